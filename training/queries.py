"""Query phrasing for MangaAssist: recommendation targets and intent templates.

Golden and training text are built from DISJOINT template lists (the phrases naming a
concept, like "iyashikei" or "found family", are shared, because an editor must be able
to teach the concept). ``build.py`` then drops any training text that is a near-duplicate
of a golden one, and tests/unit/test_data_leakage.py proves none is left.
"""

from __future__ import annotations

# slice name -> (target themes, phrases naming it). "iyashikei" is the whole shelf.
SLICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "iyashikei": (
        (),
        ("iyashikei", "iyashikei-style", "healing-type iyashikei", "cozy iyashikei", "gentle iyashikei",
         "iyashikei slice of life"),
    ),
    "healing": (
        ("healing",),
        ("healing", "heartwarming and healing", "soothing", "comforting", "restorative", "feel-better",
         "emotionally healing", "gentle recovery"),
    ),
    "calm": (
        ("calm",),
        ("calm", "quiet", "peaceful", "slow-paced", "tranquil", "unhurried", "serene", "low-key and calm"),
    ),
    "rural": (
        ("rural",),
        ("rural", "countryside", "village life", "farm life", "small island", "mountain village",
         "rural seaside town", "rice field country"),
    ),
    "found_family": (
        ("found family",),
        ("found family", "chosen family", "makeshift family", "unlikely household", "strangers-become-family",
         "surrogate family", "misfits living together as a family"),
    ),
}  # fmt: skip

SLICE_TEMPLATES_GOLDEN = (
    "{p} manga",
    "recommend me a {p} manga",
    "any good {p} manga?",
    "looking for {p} manga to read this weekend",
    "{p} series for adults",
    "what should I read if I want something {p}",
)
SLICE_TEMPLATES_TRAIN = (
    "{p} comics",
    "best {p} series",
    "suggest a {p} story",
    "I need a {p} read",
    "top {p} titles",
    "show me {p} books",
    "manga that feels {p}",
    "{p} recommendations please",
    "good {p} volumes to buy",
)

# category -> {theme: phrases}; a None theme key means the shelf as a whole.
GENRES: dict[str, dict[str | None, tuple[str, ...]]] = {
    "comedy slice of life": {
        None: ("comedy slice of life", "funny everyday life", "gag comedy"),
        "school": ("school comedy", "funny school club"),
        "family": ("family comedy", "funny family sitcom"),
        "workplace": ("office comedy",),
    },
    "sports": {
        None: ("sports", "underdog sports team"),
        "basketball": ("basketball",),
        "baseball": ("baseball", "high school baseball"),
        "volleyball": ("volleyball",),
        "boxing": ("boxing",),
        "swimming": ("swimming",),
    },
    "fantasy": {
        None: ("fantasy adventure", "epic fantasy"),
        "dragons": ("dragon fantasy", "dragon"),
        "magic school": ("magic academy", "wizard school"),
        "isekai": ("isekai", "reincarnated in another world"),
        "dark fantasy": ("dark fantasy", "grimdark fantasy"),
    },
    "romance": {
        None: ("romance", "love story"),
        "school romance": ("high school romance",),
        "office romance": ("office romance", "workplace love story"),
        "love triangle": ("love triangle",),
    },
    "mystery": {
        None: ("mystery", "thriller"),
        "detective": ("detective", "whodunit"),
        "heist": ("heist", "gentleman thief"),
        "psychological": ("psychological thriller", "mind game"),
    },
    "horror": {
        None: ("horror", "scary"),
        "ghosts": ("ghost story", "haunted house"),
        "zombies": ("zombie", "zombie apocalypse"),
        "folk horror": ("folk horror", "cursed village"),
    },
    "science fiction": {
        None: ("science fiction", "sci-fi"),
        "mecha": ("mecha", "giant robot"),
        "space opera": ("space opera", "space war"),
        "cyberpunk": ("cyberpunk",),
        "time travel": ("time travel", "time loop"),
    },
    "historical": {
        None: ("historical", "historical drama"),
        "samurai": ("samurai", "sword duel"),
        "war": ("war drama",),
        "court intrigue": ("court intrigue", "palace politics"),
    },
    "action": {
        None: ("action", "fighting"),
        "martial arts": ("martial arts", "kung fu"),
        "crime": ("yakuza crime", "gangster"),
    },
}

GENRE_TEMPLATES_GOLDEN = ("{p} manga", "recommend a {p} manga", "looking for {p} manga")
GENRE_TEMPLATES_TRAIN = ("best {p} series", "{p} comics", "suggest some {p} titles", "top {p} volumes")

# intent -> (golden templates, training templates); {title} and {order} are filled in.
INTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "title_info": (
        ("what is {title} about", "tell me about {title}", "who are the main characters of {title}"),
        ("what's the story of {title}", "give me a summary of {title}", "describe {title}",
         "how many volumes does {title} have", "is {title} finished or ongoing", "what genre is {title}"),
    ),
    "price_availability": (
        ("how much is {title}", "is {title} in stock", "can I buy {title} right now"),
        ("what does {title} cost", "price of {title}", "do you have {title} available",
         "when will {title} be back in stock", "is {title} on sale", "can I preorder {title}"),
    ),
    "order_status": (
        ("where is my order {order}", "has order {order} shipped"),
        ("track order {order}", "when will order {order} arrive", "status of my order {order}",
         "order {order} delivery date", "is {order} on its way"),
    ),
    "order_problem": (
        ("my order {order} arrived damaged", "I got the wrong volume in order {order}",
         "order {order} is missing a book"),
        ("package {order} came with a torn cover", "order {order} never arrived but says delivered",
         "the box for {order} was empty", "received someone else's items in {order}",
         "{order} has a misprinted volume", "I was charged twice for order {order}"),
    ),
    "refund_request": (
        ("I want a refund for order {order}", "please refund {title}", "can I get my money back for {order}"),
        ("how do I return {title} for a refund", "refund my purchase of {title}",
         "I need a refund on {order}", "money back for {order} please", "cancel and refund order {order}",
         "return {title} and refund me"),
    ),
    "age_restricted": (
        ("show me 18+ {genre} manga with explicit content", "adult-only {genre} manga with nudity",
         "uncensored erotic {genre} manga for adults", "explicit hentai recommendations",
         "which {genre} manga have graphic sex scenes"),
        ("{genre} manga with sex scenes", "R18 {genre} manga please", "nsfw {genre} manga recommendations",
         "explicit adult {genre} comics", "porn manga", "erotic {genre} manga with nudity", "18+ only titles",
         "uncensored adult {genre} manga"),
    ),
    "chitchat": (
        ("hello there", "thanks a lot", "what can you do", "are you a bot", "good evening",
         "that was helpful, thanks", "can you hear me", "ok cool", "hey assistant", "what's your name",
         "have a nice day", "hmm let me think"),
        ("hi", "good morning", "thank you!", "you are very helpful", "who made you", "bye", "how are you",
         "nice to meet you", "lol"),
    ),
}  # fmt: skip

INTENT_LABELS = ("recommend", *INTENTS)
# Fillers for the {genre} slot of the age-restricted templates.
ADULT_GENRES = ("romance", "fantasy", "horror", "office", "school", "isekai", "yakuza", "vampire", "sci-fi")
# The rare classes a mistake on which is expensive (see data/golden/costs.json).
CRITICAL_INTENTS = ("order_problem", "refund_request", "age_restricted")
