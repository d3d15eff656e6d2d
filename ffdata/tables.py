"""Curated fact tables (`manifests/tables/*.csv`): load, validate, cross-check.

Every row names where its fact comes from (`source`) and under which licence (`licence`); a row
without them is rejected, so no unattributed fact can reach a training set. Errors name the
file, the line and the field.

The CSV is parsed by the `csv` module (as `ffdata.sources` reads it in builds); the rows are then
checked as a polars frame, and `cross_check` joins the tables with polars. Generators read
`Table.rows`, plain dicts (docs/architecture.md says why).
"""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

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
    columns: tuple[str, ...] = ()  # the CSV's columns, then `_row` and `_line`

    def column(self, name: str) -> list:
        return [r[name] for r in self.rows]

    @property
    def frame(self) -> pl.DataFrame:
        """The rows as they are now, as a typed polars frame (strings; Int64 for the schema's
        integer columns, `_row` and `_line`): what joins between tables read."""
        ints = {*SCHEMAS.get(self.name, _NO_SCHEMA).ints, "_row", "_line"}
        dtypes = {c: pl.Int64 if c in ints else pl.String for c in self.columns}
        return pl.DataFrame(self.rows, schema=dtypes, orient="row")


_NO_SCHEMA = Schema((), ())
# What str.strip() strips (str.isspace); polars' default set lacks \x1c-\x1f.
_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def rows_frame(rows: list[tuple[int, dict]]) -> pl.DataFrame:
    """(row index, raw CSV dict) pairs as one all-string frame, with `_row` and `_line` (the
    header is line 1, so data row 0 is line 2)."""
    columns = list(dict.fromkeys(k for _, raw in rows for k in raw))
    data = {c: [raw.get(c) for _, raw in rows] for c in columns}
    idx = [i for i, _ in rows]
    data.update(_row=idx, _line=[i + 2 for i in idx])
    return pl.DataFrame(data, schema={**dict.fromkeys(columns, pl.String), "_row": pl.Int64,
                                      "_line": pl.Int64})  # fmt: skip


def validate_rows(name: str, rows: list[tuple[int, dict]], origin: str) -> Table:
    """Check (row index, raw CSV dict) pairs against the table's schema; return a Table.

    The checks run over whole columns in one pass; the error raised is the file's first problem
    (its first failing row, that row's first failing check), naming file, line and field."""
    schema = SCHEMAS.get(name, _NO_SCHEMA)
    frame = rows_frame(rows)
    needed = set(schema.required) | set(schema.optional) | set(ATTRIBUTION)
    missing = sorted(needed - set(frame.columns))
    if not rows:
        return Table(
            name,
            origin,
            [],
            columns=(
                *dict.fromkeys([*schema.required, *schema.optional, *ATTRIBUTION]),
                "_row",
                "_line",
            ),
        )
    if missing:
        raise FFDataError(f"{origin}: missing column {missing[0]!r} (needed by table {name!r})")
    frame = frame.with_columns(pl.col(pl.String).str.strip_chars(_SPACE))
    # an integer is ASCII digits with an optional sign (int() would also take "1_000", "١٢")
    ints = {c: pl.col(c).replace("", None).cast(pl.Int64, strict=False) for c in schema.ints}
    key = [ints.get(k, pl.col(k)) for k in schema.key]
    checks = {}  # name -> (failing-row expression, the error's wording), in the order checked
    for col in (*ATTRIBUTION, *schema.required):
        what = "has no source" if col == "source" else f"has an empty {col!r}"
        checks[f"empty {col}"] = (
            pl.col(col).is_null() | (pl.col(col) == ""),
            lambda r, c=col, w=what: f"field {c!r}: row {w}; rejected",
        )
    for col, parsed in ints.items():
        checks[f"int {col}"] = (
            (pl.col(col) != "") & parsed.is_null(),
            lambda r, c=col: f"field {c!r}: expected an integer, got {r[c]!r}",
        )
    flags = frame
    if key:  # a key seen on an earlier line; int key columns compare as numbers ("08" is 8)
        flags = frame.with_columns(_first=pl.col("_line").min().over(key))
        checks["duplicate"] = (
            pl.col("_line") != pl.col("_first"),
            lambda r: (
                f"field {schema.key[0]!r}: duplicate key "
                f"{tuple(int(r[k]) if k in ints else r[k] for k in schema.key)!r} "
                f"(first on line {r['_first']})"
            ),
        )
    flags = flags.with_columns(**{n: e for n, (e, _) in checks.items()})
    bad = flags.filter(pl.any_horizontal(*checks)).head(1)
    if bad.height:
        row = bad.row(0, named=True)
        failed = next(n for n in checks if row[n])
        raise FFDataError(f"{origin}:{row['_line']}: " + checks[failed][1](row))
    out = frame.with_columns(parsed.alias(c) for c, parsed in ints.items()).to_dicts()
    table = Table(name, origin, out, columns=tuple(frame.columns))
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


def _credited(tables: dict[str, Table]) -> pl.DataFrame:
    """(table, anchor) for every person a credit table credits."""
    schema = {"table": pl.String, "anchor": pl.String}
    frames = [
        tables[t].frame.select(pl.lit(t).alias("table"), pl.col(c).alias("anchor"))
        for (t, c) in PERSON_ROLES
        if t in tables
    ]
    return pl.concat(frames).unique() if frames else pl.DataFrame(schema=schema)


def cross_check(tables: dict[str, Table]) -> list[str]:
    """Facts that disagree between tables (empty list when consistent). Joins find them (each
    credit to its person row, each anchor to its table's credits); the messages are worded per
    row, in table order."""
    problems = []
    person_cols = {"name": pl.String, "fields": pl.String, "born": pl.Int64, "died": pl.Int64}
    persons = (
        tables["persons"].frame.select(*person_cols)
        if "persons" in tables
        else pl.DataFrame(schema=person_cols)
    )
    for (tname, col), roles in PERSON_ROLES.items():
        if tname not in tables:
            continue
        t = tables[tname]
        year = pl.col("year") if "year" in t.columns else pl.lit(None, pl.Int64)
        credits = (
            t.frame.select("_line", pl.col(col).alias("name"), year.alias("year"))
            .filter(~pl.col("name").str.contains_any(list(GROUP_NAMES)))
            .join(persons, on="name", how="left", maintain_order="left")
        )
        has_role = pl.col("fields").str.split(";").list.eval(pl.element().is_in(roles)).list.any()
        # works may appear after their author's death; inventions and discoveries not
        dead = tname in ("inventions", "discoveries")
        flagged = credits.with_columns(
            unknown=pl.col("fields").is_null(),
            role=~has_role,
            early=pl.col("year") <= pl.col("born"),
            late=(pl.col("year") > pl.col("died")) if dead else pl.lit(False),
        ).filter(pl.any_horizontal("unknown", "role", "early", "late"))
        for r in flagged.iter_rows(named=True):
            where, who = f"{t.path}:{r['_line']}", r["name"]
            if r["unknown"]:
                problems.append(f"{where}: {col} {who!r} is not in persons")
                continue
            if r["role"]:
                problems.append(f"{where}: {who!r} is a {col} here but persons says {r['fields']}")
            if r["early"]:
                problems.append(f"{where}: {who!r} credited in {r['year']}, born {r['born']}")
            if r["late"]:
                problems.append(f"{where}: {who!r} credited in {r['year']}, died {r['died']}")
    if "elements" in tables:
        discoverers = (
            tables["elements"]
            .frame.select("_line", pl.col("discovered_by").alias("name"))
            .join(persons, on="name", how="inner", maintain_order="left")
            .filter(~pl.col("fields").str.split(";").list.contains("scientist"))
        )
        for line, who in discoverers.select("_line", "name").iter_rows():
            problems.append(f"elements:{line}: discoverer {who!r} is not a scientist")
    if "anchors" in tables:
        role_col = {t: c for (t, c) in PERSON_ROLES}
        uncredited = tables["anchors"].frame.join(
            _credited(tables), on=["table", "anchor"], how="anti", maintain_order="left"
        )
        for line, t, anchor in uncredited.select("_line", "table", "anchor").iter_rows():
            if t not in role_col:
                problems.append(f"anchors:{line}: unknown table {t!r}")
            elif t in tables:
                problems.append(f"anchors:{line}: {anchor!r} never credited in {t}")
    if "countries" in tables:
        capitals = tables["countries"].frame["capital"]
        dupes = sorted(set(capitals.filter(capitals.is_duplicated())))
        if dupes:
            problems.append(f"countries: capitals shared by several countries: {dupes}")
    return problems
