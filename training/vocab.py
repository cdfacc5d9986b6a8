"""Controlled vocabularies for the generated MangaAssist catalog.

Real titles' metadata cannot be fetched here, so every title is an original, composed from
these lists by ``catalog.py`` with a fixed seed. Each shelf (``category``) has its own
protagonists, settings, activities and theme sentences; the comedy slice-of-life shelf
deliberately reuses the surface words of the iyashikei shelf (countryside, family, cafe,
everyday, slow) because that overlap is what makes a plain sentence embedder confuse them.
"""

from __future__ import annotations

from dataclasses import dataclass

GIVEN_NAMES = (
    "Aoi", "Haru", "Mio", "Sora", "Ren", "Yuki", "Kaito", "Hina", "Riku", "Nanami", "Sota", "Akari",
    "Daichi", "Emi", "Fuyu", "Goro", "Hotaru", "Iori", "Jun", "Kei", "Mei", "Nao", "Rin", "Shin",
    "Tomo", "Umi", "Yua", "Kou", "Asahi", "Chika", "Eiji", "Kana", "Mako", "Nozomi", "Saki", "Taiga",
)  # fmt: skip

TITLE_ADJECTIVES = (
    "Little", "Quiet", "Crimson", "Silver", "Last", "Hidden", "Endless", "Broken", "Golden", "Wandering",
    "Midnight", "Paper", "Distant", "Hollow", "Bright", "Falling", "Iron", "Secret", "Second", "Lost",
)  # fmt: skip

TITLE_NOUNS = (
    "Lantern", "Harbor", "Blade", "Garden", "Signal", "Crown", "Orbit", "Tide", "Engine", "Letter",
    "Window", "Mirror", "Festival", "Summit", "Shadow", "Compass", "Bridge", "Song", "Storm", "Key",
)  # fmt: skip


@dataclass(frozen=True)
class Shelf:
    """One catalog category: what its titles are made of."""

    category: str
    count: int
    genres: tuple[str, ...]
    demographics: tuple[str, ...]
    protagonists: tuple[str, ...]
    settings: tuple[str, ...]
    activities: tuple[str, ...]
    # theme name -> sentences a blurb may use to convey it
    themes: dict[str, tuple[str, ...]]
    tones: tuple[str, ...]
    twists: tuple[str, ...]
    mature_share: float = 0.0
    extra_genre: tuple[str, ...] = ()


# The five critical iyashikei slice themes; every iyashikei title carries two or three.
SLICE_THEMES = ("healing", "calm", "rural", "found family")

IYASHIKEI = Shelf(
    category="iyashikei",
    count=48,
    genres=("slice of life",),
    extra_genre=("drama", "iyashikei", "", "", "slice of life"),
    demographics=("seinen", "josei", "shojo", "shonen"),
    protagonists=(
        "a burned-out office worker",
        "a retired ferry captain",
        "a widowed baker",
        "a shy apprentice potter",
        "an elderly beekeeper",
        "a young country doctor",
        "two orphaned siblings",
        "a former pop idol",
        "a kind-hearted fox spirit",
        "a graduate student on leave",
        "a travelling tea merchant",
        "a lonely lighthouse keeper",
        "a schoolteacher on sabbatical",
        "a grandmother and her grandson",
        "a quiet bicycle mechanic",
        "a novelist with writer's block",
        "a retired detective",
        "a girl who moved in with her aunt",
    ),
    settings=(
        "a mountain village",
        "a sleepy island",
        "a rice-farming hamlet",
        "a small seaside town",
        "a snowed-in hot-spring inn",
        "an old farmhouse",
        "a riverside tea house",
        "a remote orchard",
        "a village at the end of a local train line",
        "a lakeside campsite",
        "a terraced tea plantation",
    ),
    activities=(
        "tends a vegetable garden",
        "runs a tiny cafe with four seats",
        "repairs old clocks for neighbours",
        "learns to bake bread from scratch",
        "keeps bees on the hillside",
        "restores a wooden boat",
        "cooks simple meals for whoever drops by",
        "sketches the same river every morning",
        "looks after a stray cat",
        "delivers the mail by bicycle",
        "grows tea leaves",
        "makes pottery",
    ),
    themes={
        "healing": (
            "Each chapter lets a tired heart mend a little more.",
            "A gentle story about recovering from loss at one's own pace.",
            "Old wounds soften in the warmth of ordinary kindness.",
        ),
        "calm": (
            "Quiet mornings, steaming tea and the sound of rain fill its pages.",
            "Nothing dramatic happens, and that is exactly the point.",
            "The pace is slow, the panels are spacious and the mood is serene.",
        ),
        "rural": (
            "Far from the city, days follow the rhythm of the harvest.",
            "Rice paddies, cicadas and a single bus a day set the scene.",
            "Life in the countryside is simple, and neighbours share what they grow.",
        ),
        "found family": (
            "Strangers under one roof slowly become a family.",
            "An unlikely household of misfits learns to care for each other.",
            "Nobody here is related by blood, yet they sit down to dinner together every night.",
        ),
        "seasons": ("The changing seasons mark every small milestone.",),
        "food": ("Home-cooked meals bring the neighbours together.",),
    },
    tones=(
        "A warm, unhurried read.",
        "Soft watercolour-like art.",
        "Perfect before bed.",
        "A story about everyday life and small joys.",
    ),
    twists=(
        "the grandmother passes away peacefully in the final volume",
        "the fox spirit finally returns to the mountain shrine",
        "the cafe has to close when the old building is sold",
        "the missing father turns out to be living in the next village",
        "the lighthouse is decommissioned and becomes a library",
        "the siblings are formally adopted in the last chapter",
    ),
)

COMEDY_SOL = Shelf(
    category="comedy slice of life",
    count=80,
    genres=("slice of life", "comedy"),
    demographics=("shonen", "shojo", "seinen", "josei"),
    protagonists=(
        "a hyperactive high-school girl",
        "three slacker roommates",
        "an overworked salaryman",
        "a chaotic family of five",
        "the members of a failing school club",
        "a lazy university student",
        "a self-declared genius",
        "two rival convenience-store clerks",
        "a dad raising twins alone",
        "a fussy cat and its clueless owner",
        "a new teacher",
        "a gang of middle-school friends",
        "an aspiring manga artist",
        "a tsundere class president",
    ),
    settings=(
        "a noisy city apartment",
        "a high school",
        "a small-town convenience store",
        "a family-run cafe",
        "a countryside school with six students",
        "a shared house",
        "an office",
        "a seaside town",
        "a neighbourhood bathhouse",
        "a university club room",
    ),
    activities=(
        "schemes to win the cultural festival",
        "gets into absurd arguments over lunch",
        "tries every part-time job in town",
        "fails at cooking in spectacular ways",
        "keeps losing the family's pet tortoise",
        "starts a club nobody wants to join",
        "turns every errand into a disaster",
        "competes over the last melon bread",
    ),
    themes={
        "comedy": (
            "Expect rapid-fire gags and ridiculous misunderstandings.",
            "A laugh-out-loud comedy about everyday life.",
            "Slice-of-life chaos with a punchline on every page.",
        ),
        "family": (
            "Their family is loud, nosy and always in each other's business.",
            "A bickering family that somehow always makes up by dinner.",
        ),
        "school": ("Classroom hijinks and club-room shenanigans abound.",),
        "friendship": ("A goofy friendship that survives every embarrassing moment.",),
        "workplace": ("Office politics have never been this silly.",),
        "rural": ("The countryside is sleepy, but these kids never are.",),
    },
    tones=(
        "Light, silly and easy to pick up.",
        "Short chapters you can read on the train.",
        "A relaxing, low-stakes read full of jokes.",
        "Daily life, slowly and hilariously.",
    ),
    twists=(
        "the club is saved at the last minute by the principal's secret hobby",
        "the roommates discover they were cousins all along",
        "the class president confesses at the graduation ceremony",
        "the tortoise was the landlord's missing pet from the start",
    ),
)


def _genre_shelf(
    category: str,
    count: int,
    genres: tuple[str, ...],
    protagonists: tuple[str, ...],
    settings: tuple[str, ...],
    activities: tuple[str, ...],
    themes: dict[str, tuple[str, ...]],
    twists: tuple[str, ...],
    mature_share: float = 0.0,
    demographics: tuple[str, ...] = ("shonen", "seinen"),
) -> Shelf:
    return Shelf(
        category=category,
        count=count,
        genres=genres,
        demographics=demographics,
        protagonists=protagonists,
        settings=settings,
        activities=activities,
        themes=themes,
        tones=(
            "A gripping read.",
            "Dynamic, detailed art.",
            "Hard to put down.",
            "Fast-paced from page one.",
        ),
        twists=twists,
        mature_share=mature_share,
    )


OTHER_SHELVES = (
    _genre_shelf(
        "sports",
        26,
        ("sports",),
        ("a short point guard", "a benched pitcher", "a timid setter", "a washed-up boxer", "a swimmer"),
        ("a struggling high-school team", "the national tournament", "a run-down gym"),
        ("trains until dawn", "leads an underdog team", "faces an old rival"),
        {
            "basketball": ("Every possession of the basketball court is drawn with explosive energy.",),
            "baseball": ("The summer baseball tournament is everything to them.",),
            "volleyball": ("Volleyball rallies leap off the page.",),
            "boxing": ("Brutal, honest boxing bouts in a tiny gym.",),
            "swimming": ("Hundredths of a second decide every swimming race.",),
        },
        ("the captain's injury ends his career", "the team loses the final by one point"),
    ),
    _genre_shelf(
        "fantasy",
        34,
        ("fantasy", "adventure"),
        ("an apprentice mage", "a cursed knight", "a reincarnated office worker", "a dragon tamer"),
        ("a kingdom at war", "a floating academy of magic", "another world", "the demon lord's castle"),
        ("searches for a lost relic", "masters forbidden spells", "gathers a party of heroes"),
        {
            "dragons": ("Dragons rule the skies and bargain with kings.",),
            "magic school": ("Exams at the magic academy can be deadly.",),
            "isekai": ("Transported to another world, the hero starts over from level one.",),
            "dark fantasy": ("A grim, blood-soaked world where every victory costs something.",),
        },
        ("the mentor was the demon lord all along", "the hero trades his memories for the final spell"),
        mature_share=0.15,
    ),
    _genre_shelf(
        "romance",
        30,
        ("romance",),
        ("a clumsy florist", "a cold-hearted CEO", "a transfer student", "a childhood friend"),
        ("a seaside high school", "a Tokyo publishing house", "a wedding planning agency"),
        ("hides her feelings", "fakes a relationship", "writes anonymous letters"),
        {
            "school romance": ("A slow-burn school romance full of missed chances.",),
            "office romance": ("A workplace romance between two stubborn professionals.",),
            "love triangle": ("A love triangle that keeps readers guessing.",),
        },
        ("the two leads marry in the epilogue", "the childhood friend is the letter writer"),
        demographics=("shojo", "josei"),
    ),
    _genre_shelf(
        "mystery",
        28,
        ("mystery", "thriller"),
        ("a teenage detective", "a disgraced police inspector", "a gentleman thief", "a forensic doctor"),
        ("a locked mansion", "a snowbound hotel", "a city of hidden cameras"),
        ("solves impossible murders", "plans a perfect heist", "hunts a serial killer"),
        {
            "detective": ("Each case is a fair-play puzzle for the reader.",),
            "heist": ("An elaborate heist where every step can go wrong.",),
            "psychological": ("A tense psychological game between two brilliant minds.",),
        },
        ("the narrator is the killer", "the inspector faked his own death"),
        mature_share=0.2,
    ),
    _genre_shelf(
        "horror",
        24,
        ("horror",),
        ("a ghost-seeing girl", "a group of campers", "a folklore researcher", "a night-shift nurse"),
        ("an abandoned hospital", "a cursed village", "a haunted apartment block"),
        ("investigates disappearances", "tries to break a curse", "survives one night at a time"),
        {
            "ghosts": ("Ghost stories that linger long after the last page.",),
            "zombies": ("A zombie outbreak told from the inside.",),
            "folk horror": ("Old rituals and village secrets turn deadly.",),
        },
        ("the whole village was dead from the start", "the nurse is the ghost"),
        mature_share=0.4,
    ),
    _genre_shelf(
        "science fiction",
        28,
        ("science fiction", "action"),
        ("a mecha pilot", "a salvage crew", "an android detective", "a time-travelling student"),
        ("a colony ship", "a neon megacity", "a ruined future Earth"),
        ("fights alien invaders", "uncovers a corporate conspiracy", "loops through the same day"),
        {
            "mecha": ("Giant robots clash in detailed mecha battles.",),
            "space opera": ("A sweeping space opera across warring star systems.",),
            "cyberpunk": ("A cyberpunk city where memories are for sale.",),
            "time travel": ("Time travel paradoxes fold the plot in on itself.",),
        },
        ("the pilot is a clone of the enemy commander", "the loop is caused by the student herself"),
        mature_share=0.15,
    ),
    _genre_shelf(
        "historical",
        20,
        ("historical", "drama"),
        ("a wandering samurai", "a geisha's apprentice", "a young shogunate official", "a ninja"),
        ("the Edo period", "the Sengoku era", "a Meiji-era port town"),
        ("seeks revenge for his clan", "protects a young lord", "records the fall of an era"),
        {
            "samurai": ("Sword duels drawn with historical precision.",),
            "war": ("The brutality of war seen by ordinary people.",),
            "court intrigue": ("Court intrigue where a single rumour can kill.",),
        },
        ("the samurai's lord ordered his family's death", "the ninja dies at the castle gate"),
        mature_share=0.25,
    ),
    _genre_shelf(
        "action",
        22,
        ("action", "martial arts"),
        ("a street fighter", "a retired hitman", "a yakuza heir", "a martial arts prodigy"),
        ("the underground fight circuit", "the back streets of Osaka", "a mountain dojo"),
        ("fights his way up the rankings", "protects a witness", "avenges his master"),
        {
            "martial arts": ("Every fight is choreographed panel by panel.",),
            "crime": ("Gang wars and betrayals in the criminal underworld.",),
        },
        ("the master faked his death to test him", "the yakuza heir betrays his father"),
        mature_share=0.5,
    ),
)
