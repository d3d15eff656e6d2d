"""Curated fact tables (`manifests/tables/*.csv`): load, validate, cross-check.

Every row names where its fact comes from (`source`) and under which licence (`licence`); a row
without them is rejected, so no unattributed fact can reach a training set. Errors name the
file, the line and the field.
"""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes

TABLES_DIR = Path(__file__).resolve().parent.parent / "manifests" / "tables"
ATTRIBUTION = ("source", "licence")


@dataclass(frozen=True)
class Schema:
    key: tuple[str, ...]  # unique per table
    required: tuple[str, ...]  # non-empty in every row
    optional: tuple[str, ...] = ()  # present as a column, may be empty
    ints: tuple[str, ...] = ()  # parsed to int when non-empty


SCHEMAS: dict[str, Schema] = {
    "countries": Schema(("country",), ("country", "capital"), ("continent", "note")),
    "elements": Schema(
        ("number",),
        ("number", "symbol", "name", "period"),
        ("category", "discovered_by"),
        ("number", "period"),
    ),
    "inventions": Schema(
        ("invention",), ("invention", "inventor", "verb"), ("article", "year"), ("year",)
    ),
    "discoveries": Schema(("discovery",), ("discovery", "scientist", "verb"), ("year",), ("year",)),
    "literature": Schema(("work",), ("work", "author", "form"), ("year",), ("year",)),
    "music": Schema(("work",), ("work", "composer", "form"), ("year",), ("year",)),
    "art": Schema(("work",), ("work", "artist", "form"), ("year",), ("year",)),
    "philosophy": Schema(("work",), ("work", "philosopher", "kind"), ("year",), ("year",)),
    "persons": Schema(("name",), ("name", "fields"), ("born", "died"), ("born", "died")),
    "anchors": Schema(("category", "anchor"), ("category", "anchor", "table")),
    # Block B: a question a common misconception gets wrong, and the correct short answer
    "misconceptions": Schema(("question",), ("question", "answer", "topic")),
}
# Knowledge tables (Block A across subjects): one fact per row, asked as generators.subjects says.
KNOWLEDGE = Schema(("entity", "relation"), ("entity", "relation", "value"))
KNOWLEDGE_TABLES = (
    "astronomy", "biology", "health", "history", "government", "literature_characters",
    "instruments", "art_movements", "schools", "currencies", "us_states", "landmarks",
    "compounds", "element_groups", "physics", "mathematics",
)  # fmt: skip
SCHEMAS.update({name: KNOWLEDGE for name in KNOWLEDGE_TABLES})


@dataclass
class Table:
    name: str
    path: str
    rows: list[dict]  # validated rows; each has `_row` (0-based data row) and `_line`
    sha256: str = ""
    by_key: dict = field(default_factory=dict)

    def column(self, name: str) -> list:
        return [r[name] for r in self.rows]


def validate_rows(name: str, rows: list[tuple[int, dict]], origin: str) -> Table:
    """Check (row index, raw CSV dict) pairs against the table's schema; return a Table.

    Line numbers in errors count the header as line 1, so data row 0 is line 2.
    """
    schema = SCHEMAS.get(name, Schema((), ()))
    needed = set(schema.required) | set(schema.optional) | set(ATTRIBUTION)
    out: list[dict] = []
    seen: dict[tuple, int] = {}
    for idx, raw in rows:
        line = idx + 2
        missing = sorted(needed - set(raw))
        if missing:
            raise FFDataError(f"{origin}: missing column {missing[0]!r} (needed by table {name!r})")
        row = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
        for col in (*ATTRIBUTION, *schema.required):
            if not row.get(col):
                what = "has no source" if col == "source" else f"has an empty {col!r}"
                raise FFDataError(f"{origin}:{line}: field {col!r}: row {what}; rejected")
        for col in schema.ints:
            if row.get(col):
                try:
                    row[col] = int(row[col])
                except ValueError:
                    raise FFDataError(
                        f"{origin}:{line}: field {col!r}: expected an integer, got {row[col]!r}"
                    ) from None
            else:
                row[col] = None
        key = tuple(row[k] for k in schema.key)
        if schema.key and key in seen:
            raise FFDataError(
                f"{origin}:{line}: field {schema.key[0]!r}: duplicate key {key!r} "
                f"(first on line {seen[key]})"
            )
        seen[key] = line
        row["_row"], row["_line"] = idx, line
        out.append(row)
    table = Table(name, origin, out)
    table.by_key = {tuple(r[k] for k in schema.key): r for r in out} if schema.key else {}
    return table


def parse_csv_bytes(data: bytes, origin: str) -> list[tuple[int, dict]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise FFDataError(f"{origin}:{line}: not valid UTF-8 at byte {e.start}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    for idx, rec in enumerate(reader):
        if None in rec:
            raise FFDataError(f"{origin}:{idx + 2}: more fields than the header names")
        rows.append((idx, rec))
    return rows


def load_table(name: str, path: str | Path | None = None) -> Table:
    path = Path(path) if path else TABLES_DIR / f"{name}.csv"
    if not path.exists():
        raise FFDataError(f"{path}: fact table {name!r} not found")
    data = path.read_bytes()
    table = validate_rows(name, parse_csv_bytes(data, str(path)), str(path))
    table.sha256 = sha256_bytes(data)
    return table


def load_all(directory: str | Path | None = None) -> dict[str, Table]:
    directory = Path(directory) if directory else TABLES_DIR
    return {p.stem: load_table(p.stem, p) for p in sorted(directory.glob("*.csv"))}


# Which table column names a person, and which `fields` value that person must carry.
PERSON_ROLES = {
    ("inventions", "inventor"): {"inventor", "scientist"},  # vaccines, processes, instruments
    ("discoveries", "scientist"): {"scientist"},
    ("literature", "author"): {"writer"},
    ("music", "composer"): {"composer"},
    ("art", "artist"): {"artist"},
    ("philosophy", "philosopher"): {"philosopher"},
}
GROUP_NAMES = ("brothers",)  # "Wright brothers" is a credit, not a person row


def person_fields(person: dict) -> set[str]:
    return set(person["fields"].split(";"))


def cross_check(tables: dict[str, Table]) -> list[str]:
    """Facts that disagree between tables (empty list when consistent)."""
    problems = []
    persons = tables["persons"].by_key if "persons" in tables else {}
    for (tname, col), roles in PERSON_ROLES.items():
        if tname not in tables:
            continue
        for row in tables[tname].rows:
            who = row[col]
            if any(g in who for g in GROUP_NAMES):
                continue
            person = persons.get((who,))
            where = f"{tables[tname].path}:{row['_line']}"
            if person is None:
                problems.append(f"{where}: {col} {who!r} is not in persons")
                continue
            if not roles & person_fields(person):
                problems.append(
                    f"{where}: {who!r} is a {col} here but persons says {person['fields']}"
                )
            year, born, died = row.get("year"), person["born"], person["died"]
            if year and born and year <= born:
                problems.append(f"{where}: {who!r} credited in {year}, born {born}")
            # works may appear after their author's death; inventions and discoveries not
            if tname in ("inventions", "discoveries") and year and died and year > died:
                problems.append(f"{where}: {who!r} credited in {year}, died {died}")
    if "elements" in tables:
        for row in tables["elements"].rows:
            who = row["discovered_by"]
            person = persons.get((who,)) if who else None
            if person is not None and "scientist" not in person_fields(person):
                problems.append(f"elements:{row['_line']}: discoverer {who!r} is not a scientist")
    if "anchors" in tables:
        role_col = {t: c for (t, c) in PERSON_ROLES}
        for row in tables["anchors"].rows:
            t = row["table"]
            if t not in role_col:
                problems.append(f"anchors:{row['_line']}: unknown table {t!r}")
            elif t in tables and row["anchor"] not in tables[t].column(role_col[t]):
                problems.append(f"anchors:{row['_line']}: {row['anchor']!r} never credited in {t}")
    if "countries" in tables:
        capitals = [r["capital"] for r in tables["countries"].rows]
        dupes = sorted({c for c in capitals if capitals.count(c) > 1})
        if dupes:
            problems.append(f"countries: capitals shared by several countries: {dupes}")
    return problems
