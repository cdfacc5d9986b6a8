"""The golden set's queries: held-out concepts and free-form queries no training text shares.

Three kinds, each row tagged with a ``style`` and a ``cluster`` (queries generated from
the same concept phrase share a cluster; a slice statistic should count clusters, not
queries, because a model that misses a concept misses all of its template variants):

- ``templated``: every golden template (``queries.*_TEMPLATES_GOLDEN``) with every
  held-out concept phrase below. The phrases are synonyms, paraphrases, romanised Japanese
  and typos of the training concepts, never the training phrases themselves: training
  learns "healing", the golden set asks for "soothing" and "honobono";
- ``free_form``: hand-written queries, not produced by any generator: negations ("slice
  of life but not comedy"), two or three constraints, typos, romanised and mixed-language
  (Japanese script) queries;
- ``like_title``: "something like <title>" for catalog titles, judged by that title's
  shelf and themes, the title itself excluded.

Every target is judged per item (``relevance.Target(per_item=True)``): a query naming
themes is answered by titles carrying them, not by every title of the shelf.

The lists were written before any model was evaluated on them and are not edited to move
a number; ``tests/unit/test_data_leakage.py`` checks that no training concept phrase
occurs inside a golden text and no golden concept phrase inside a training text.
"""

from __future__ import annotations

# slice -> (target themes, held-out phrases). Each phrase is one cluster.
GOLDEN_SLICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "iyashikei": (
        (),
        ("iyashi-kei", "iyashikie", "iyasikei", "iyashi", "cosy", "comfort-read",
         "wholesome slow-life", "癒し系"),
    ),
    "healing": (
        ("healing",),
        ("soothing", "comforting", "restorative", "gentle recovery", "honobono", "soul-mending",
         "balm for the soul", "recovering from grief"),
    ),
    "calm": (
        ("calm",),
        ("slow-paced", "unhurried", "tranquil", "serene", "nonbiri", "laid-back", "meditative",
         "nothing-much-happens"),
    ),
    "rural": (
        ("rural",),
        ("small island", "mountain village", "rice field country", "inaka", "田舎", "backwoods",
         "farming hamlet", "remote seaside town"),
    ),
    "found_family": (
        ("found family",),
        ("unlikely household", "strangers-become-family", "misfits living together", "not related by blood",
         "adoptive household", "ragtag household", "surrogate family", "patchwork family"),
    ),
}  # fmt: skip

# category -> {theme: held-out phrases}; None is the shelf as a whole.
GOLDEN_GENRES: dict[str, dict[str | None, tuple[str, ...]]] = {
    "comedy slice of life": {
        None: ("funny everyday life", "slapstick"),
        "school": ("funny school club",),
        "family": ("funny family sitcom",),
        "workplace": ("salaryman humour",),
    },
    "sports": {
        None: ("underdog athletes",),
        "basketball": ("hoops",),
        "baseball": ("koshien",),
        "volleyball": ("volley club",),
        "boxing": ("prizefighter",),
        "swimming": ("competitive swimmer",),
    },
    "fantasy": {
        None: ("epic fantasy",),
        "dragons": ("wyverns",),
        "magic school": ("wizard school",),
        "isekai": ("reincarnated in another world",),
        "dark fantasy": ("grimdark",),
    },
    "romance": {
        None: ("love story",),
        "school romance": ("campus crush",),
        "office romance": ("workplace love story",),
        "love triangle": ("two suitors",),
    },
    "mystery": {
        None: ("thriller",),
        "detective": ("whodunit",),
        "heist": ("gentleman thief",),
        "psychological": ("psychological thriller",),
    },
    "horror": {
        None: ("scary",),
        "ghosts": ("haunted house",),
        "zombies": ("undead outbreak",),
        "folk horror": ("village curse",),
    },
    "science fiction": {
        None: ("sci-fi",),
        "mecha": ("giant robot",),
        "space opera": ("space war",),
        "cyberpunk": ("neon dystopia",),
        "time travel": ("time loop",),
    },
    "historical": {
        None: ("period drama",),
        "samurai": ("sword duel",),
        "war": ("wartime",),
        "court intrigue": ("palace politics",),
    },
    "action": {
        None: ("fighting",),
        "martial arts": ("kung fu",),
        "crime": ("gangster",),
    },
}

# The track's TRAINING phrases: the phrases of ``queries.SLICES`` / ``queries.GENRES`` that
# neither are nor contain nor sit inside a golden phrase above (so "rural seaside town" and
# "misfits living together as a family" are left out, as are the golden synonyms themselves).
TRAIN_SLICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "iyashikei": (
        (),
        ("iyashikei", "iyashikei-style", "healing-type iyashikei", "cozy iyashikei", "gentle iyashikei",
         "iyashikei slice of life"),
    ),
    "healing": (("healing",), ("healing", "heartwarming and healing", "emotionally healing", "feel-better")),
    "calm": (("calm",), ("calm", "quiet", "peaceful", "low-key and calm")),
    "rural": (("rural",), ("rural", "countryside", "village life", "farm life")),
    "found_family": (("found family",), ("found family", "chosen family", "makeshift family")),
}  # fmt: skip

TRAIN_GENRES: dict[str, dict[str | None, tuple[str, ...]]] = {
    "comedy slice of life": {
        None: ("comedy slice of life", "gag comedy"),
        "school": ("school comedy",),
        "family": ("family comedy",),
        "workplace": ("office comedy",),
    },
    "sports": {
        None: ("sports",),
        "basketball": ("basketball",),
        "baseball": ("baseball",),
        "volleyball": ("volleyball",),
        "boxing": ("boxing",),
        "swimming": ("swimming",),
    },
    "fantasy": {
        None: ("fantasy adventure",),
        "dragons": ("dragon fantasy",),
        "magic school": ("magic academy",),
        "isekai": ("isekai",),
        "dark fantasy": ("dark fantasy",),
    },
    "romance": {
        None: ("romance",),
        "school romance": ("high school romance",),
        "office romance": ("office romance",),
        "love triangle": ("love triangle",),
    },
    "mystery": {
        None: ("mystery",),
        "detective": ("detective",),
        "heist": ("heist",),
        "psychological": ("mind game",),
    },
    "horror": {
        None: ("horror",),
        "ghosts": ("ghost story",),
        "zombies": ("zombie",),
        "folk horror": ("folk horror",),
    },
    "science fiction": {
        None: ("science fiction",),
        "mecha": ("mecha",),
        "space opera": ("space opera",),
        "cyberpunk": ("cyberpunk",),
        "time travel": ("time travel",),
    },
    "historical": {
        None: ("historical",),
        "samurai": ("samurai",),
        "war": ("war drama",),
        "court intrigue": ("court intrigue",),
    },
    "action": {
        None: ("action",),
        "martial arts": ("martial arts",),
        "crime": ("yakuza crime",),
    },
}

# (query, category, themes): written by hand, not by a generator.
FREE_FORM: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # negations
    ("slice of life but not comedy", "iyashikei", ()),
    ("slice of life without the gags, something soothing", "iyashikei", ("healing",)),
    ("a gentle manga with no jokes and no fights", "iyashikei", ()),
    ("everyday life story that is not a sitcom", "iyashikei", ()),
    ("slow life manga but nothing silly", "iyashikei", ()),
    ("relaxing manga, not a gag manga", "iyashikei", ()),
    ("family story that is warm rather than funny", "iyashikei", ("found family",)),
    ("island life manga that isn't a comedy", "iyashikei", ("rural",)),
    # two or three constraints
    ("tranquil island story where strangers become a family", "iyashikei", ("calm", "rural", "found family")),
    ("soothing manga about recovering from grief in a mountain village", "iyashikei", ("healing", "rural")),
    ("unhurried tale set in a farming hamlet", "iyashikei", ("calm", "rural")),
    ("serene story about an adoptive household", "iyashikei", ("calm", "found family")),
    ("restorative read set far from the city", "iyashikei", ("healing", "rural")),
    ("misfits sharing a house and learning to heal", "iyashikei", ("healing", "found family")),
    ("laid-back seaside life with a ragtag household", "iyashikei", ("calm", "rural", "found family")),
    ("a soothing, slow-paced tale by the rice paddies", "iyashikei", ("healing", "calm", "rural")),
    ("comforting manga about people who are not related by blood", "iyashikei", ("healing", "found family")),
    ("meditative manga about tea, rain and silence", "iyashikei", ("calm",)),
    ("balm for the soul after burning out at work", "iyashikei", ("healing",)),
    ("a tired city worker moves to the mountains to recover", "iyashikei", ("healing", "rural")),
    ("someone rebuilding their life slowly in a remote place", "iyashikei", ("healing", "rural")),
    ("strangers under one roof slowly caring for each other, very gentle", "iyashikei", ("found family",)),
    ("peace and harvest seasons in the middle of nowhere", "iyashikei", ("calm", "rural")),
    ("a widow finds a new family in a small town", "iyashikei", ("healing", "found family")),
    ("gentle grief story with an unlikely household", "iyashikei", ("healing", "found family")),
    ("sleepy village days with nothing dramatic", "iyashikei", ("calm", "rural")),
    ("a slow manga about mending after loss", "iyashikei", ("healing",)),
    ("people with no relatives who end up eating dinner together", "iyashikei", ("found family",)),
    # typos and romanised Japanese
    ("sooting manga for a rainy day", "iyashikei", ("healing",)),
    ("tranqil slice of life", "iyashikei", ("calm",)),
    ("serine manga with spacious panels", "iyashikei", ("calm",)),
    ("honobono manga with a found famly", "iyashikei", ("healing", "found family")),
    ("nonbiri inaka manga", "iyashikei", ("calm", "rural")),
    ("inaka no seikatsu manga", "iyashikei", ("rural",)),
    ("iyashi manga for before bed", "iyashikei", ()),
    ("heartwarmng island manga", "iyashikei", ("healing", "rural")),
    ("slise of life that feels like a warm blanket", "iyashikei", ("healing",)),
    ("kazoku ja nai kazoku manga", "iyashikei", ("found family",)),
    # mixed-language (Japanese script)
    ("癒し系 manga おすすめ", "iyashikei", ()),
    ("田舎 slice of life please", "iyashikei", ("rural",)),
    ("のんびり manga", "iyashikei", ("calm",)),
    ("ほのぼの slice of life", "iyashikei", ("healing",)),
    ("血のつながらない家族 manga", "iyashikei", ("found family",)),
    # the other shelves
    ("manga with giant robots but not too grim", "science fiction", ("mecha",)),
    ("a story that plays like a caper movie", "mystery", ("heist",)),
    ("ronin sword fights in old Japan", "historical", ("samurai",)),
    ("spooky ghosts in an old apartment block", "horror", ("ghosts",)),
    ("funny roommates getting into trouble", "comedy slice of life", ()),
    ("underdog high school team that wants to win it all", "sports", ()),
    ("kids learning spells at an academy", "fantasy", ("magic school",)),
    ("a boy transported into a game world", "fantasy", ("isekai",)),
    ("love letters and misunderstandings at school", "romance", ("school romance",)),
    ("slapstick with a family of five", "comedy slice of life", ("family",)),
    ("a whodunnit in a snowed-in hotel", "mystery", ("detective",)),
    ("gang wars in Osaka", "action", ("crime",)),
    ("street brawls and kung-fu tournaments", "action", ("martial arts",)),
    ("basket ball manga", "sports", ("basketball",)),
    ("androids and neon streets", "science fiction", ("cyberpunk",)),
    ("creepy folklore and old rituals", "horror", ("folk horror",)),
    ("ケンカ manga with lots of fights", "action", ()),
    ("スポーツ manga about a pitcher", "sports", ("baseball",)),
)

# The held-out query log's templates (the user simulator's queries, build_heldout.query_log):
# golden phrases in wordings neither the golden set nor training uses.
LOG_TEMPLATES = ("{p} manga recs", "anything {p}?", "I want to read something {p}", "{p} stories pls")
LOG_ROWS = 1200

LIKE_TEMPLATES = ("something like {title}", "more manga like {title}", "I loved {title}, what next?")
LIKE_PER_SHELF = {"iyashikei": 24}
LIKE_OTHER_SHELVES = 2  # titles per other shelf


def slice_of_theme(theme: str) -> str:
    """The golden slice name of an iyashikei theme ("found family" -> "found_family")."""
    return theme.replace(" ", "_")
