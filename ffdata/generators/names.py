"""How table entries read in English: curated, not guessed.

The fact tables keep a key per row ("William Tell (the opera)", "Moonlight Sonata",
"Dominican Republic"); a question needs the name as a reader writes it: "Who composed the opera
William Tell?", "the Moonlight Sonata", "the capital of the Dominican Republic". The lists below
decide that per name (tests check that every entry still names a table row, so none goes stale).

- `title(table, row)`: the work as an answer option (table notes removed),
- `mention(table, row)`: the work inside a sentence (with its article where it takes one),
- `country(name)`: a country inside a sentence.

`SAME_TITLE` lists people who made a different work under the same (or a contained) title, so a
who-made-it item never offers them as a wrong answer (two correct options).
"""

from functools import cache

# countries whose English name takes "the" in running text
COUNTRIES_WITH_THE = frozenset(
    {
        "Bahamas",
        "Central African Republic",
        "Comoros",
        "Czech Republic",
        "Democratic Republic of the Congo",
        "Dominican Republic",
        "Gambia",
        "Maldives",
        "Marshall Islands",
        "Netherlands",
        "Philippines",
        "Republic of the Congo",
        "Solomon Islands",
        "United Arab Emirates",
        "United Kingdom",
        "United States",
    }
)

# (table, key) -> (option title, running-text mention); keys carry a note or need an article
WORK_FORMS: dict[tuple[str, str], tuple[str, str]] = {
    ("music", "William Tell (the opera)"): ("William Tell", "the opera William Tell"),
    ("music", "Symphony No. 9 (the Choral Symphony)"): (
        "Symphony No. 9 in D minor",
        "the Choral Symphony, Symphony No. 9 in D minor",
    ),
    ("music", "Peer Gynt (incidental music)"): ("Peer Gynt", "the incidental music to Peer Gynt"),
    ("music", "Requiem in D minor (K. 626)"): ("Requiem in D minor", "the Requiem in D minor"),
    ("music", "Surprise Symphony (No. 94)"): ("Surprise Symphony", "the Surprise Symphony"),
    ("music", "Unfinished Symphony (No. 8)"): ("Unfinished Symphony", "the Unfinished Symphony"),
    ("music", "Moonlight Sonata"): ("Moonlight Sonata", "the Moonlight Sonata"),
    ("music", "Brandenburg Concertos"): ("Brandenburg Concertos", "the Brandenburg Concertos"),
    ("music", "St Matthew Passion"): ("St Matthew Passion", "the St Matthew Passion"),
    ("music", "Mass in B minor"): ("Mass in B minor", "the Mass in B minor"),
    ("music", "1812 Overture"): ("1812 Overture", "the 1812 Overture"),
    ("music", "Trout Quintet"): ("Trout Quintet", "the Trout Quintet"),
    ("music", "Minute Waltz"): ("Minute Waltz", "the Minute Waltz"),
    ("music", "Symphony No. 9 From the New World"): (
        "Symphony No. 9 From the New World",
        "the New World Symphony, Symphony No. 9",
    ),
    ("art", "Mona Lisa"): ("Mona Lisa", "the Mona Lisa"),
    ("art", "Vitruvian Man"): ("Vitruvian Man", "the Vitruvian Man"),
    ("art", "Sistine Madonna"): ("Sistine Madonna", "the Sistine Madonna"),
    ("art", "David (the marble statue in Florence)"): ("David", "the marble statue David"),
    ("art", "Pietà (St. Peter's Basilica)"): ("Pietà", "the Pietà in St. Peter's Basilica"),
    ("philosophy", "Ethics (Ethica)"): ("Ethics", "the Ethics, Demonstrated in Geometrical Order"),
    ("philosophy", "Tao Te Ching"): ("Tao Te Ching", "the Tao Te Ching"),
    ("philosophy", "Summa Theologica"): ("Summa Theologica", "the Summa Theologica"),
    ("philosophy", "Monadology"): ("Monadology", "the Monadology"),
    ("philosophy", "Tractatus Logico-Philosophicus"): (
        "Tractatus Logico-Philosophicus",
        "the Tractatus Logico-Philosophicus",
    ),
}

# title -> other people known for a work of that name (not in the table's credits)
SAME_TITLE: dict[str, frozenset[str]] = {
    "Confessions": frozenset({"Jean-Jacques Rousseau"}),
    "Ethics": frozenset({"Aristotle"}),  # the Nicomachean Ethics is often just "Ethics"
    "David": frozenset({"Donatello", "Gian Lorenzo Bernini"}),
    "Meditations": frozenset({"René Descartes"}),  # Meditations on First Philosophy
}

WORK_COLUMN = {"literature": "work", "music": "work", "art": "work", "philosophy": "work"}


def title(table: str, row: dict) -> str:
    key = row[WORK_COLUMN[table]]
    return WORK_FORMS.get((table, key), (key, key))[0]


def mention(table: str, row: dict) -> str:
    key = row[WORK_COLUMN[table]]
    return WORK_FORMS.get((table, key), (key, key))[1]


def country(name: str) -> str:
    return f"the {name}" if name in COUNTRIES_WITH_THE else name


def cap(text: str) -> str:
    """Sentence-initial capital without lowering the rest ("the Mona Lisa" -> "The Mona Lisa")."""
    return text[:1].upper() + text[1:]


def plural(n, one: str, many: str | None = None) -> str:
    """ "1 hour", "3 hours"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


@cache  # titles are compared pairwise: read each one once
def _words(text: str) -> frozenset[str]:
    stop = {"the", "a", "an", "of", "in", "on", "and", "no", "to"}
    clean = "".join(ch if ch.isalnum() else " " for ch in text.casefold())
    return frozenset(w for w in clean.split() if w not in stop)


def titles_clash(a: str, b: str) -> bool:
    """Two titles a reader could take for the same work: one's words contain the other's
    ("Meditations" / "Meditations on First Philosophy", "Ethics" / "Nicomachean Ethics")."""
    wa, wb = _words(a), _words(b)
    return bool(wa and wb) and (wa <= wb or wb <= wa)
