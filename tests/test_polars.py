"""polars where it serves: a built set read as a LazyFrame (the same rows DuckDB shows, verified
first), and fact tables validated as polars frames (errors name file, line and field)."""

import polars as pl
import pytest

from ffdata.audit import connect
from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.tables import _SPACE, TABLES_DIR, cross_check, load_all, load_table
from tests.conftest import write_gsm8k_manifest


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """gsm8k_sft at 300 rows in three shards, with dropped rows (real GSM8K train)."""
    base = tmp_path_factory.mktemp("polars")
    manifest = write_gsm8k_manifest(base / "p", rows=300, rows_per_shard=100)
    built, _ = build_set("gsm8k_sft", manifest, str(base / "root"), quiet=True)
    return built


def test_to_polars_equals_the_duckdb_views_row_for_row(built):
    db = connect(str(built.storage.root), evalsets=False)
    lazy = built.to_polars()
    assert isinstance(lazy, pl.LazyFrame)
    rows = lazy.collect()
    assert len(built.record["shards"]) == 3 and rows.height == built.record["rows"] == 300
    view = db.query("SELECT * FROM gsm8k_sft")
    assert rows.columns == view.columns
    assert rows.rows() == view.rows
    dropped = built.to_polars(dropped=True).collect()
    view = db.query("SELECT * FROM gsm8k_sft__dropped")
    assert dropped.height == built.record["dropped"]["total"] > 0
    assert (dropped.columns, dropped.rows()) == (view.columns, view.rows)
    # one part, and a lazy query that reads two columns only
    (part,) = built.parts()
    assert built.to_polars(part).collect().rows() == rows.rows()
    counts = built.to_polars().group_by("source").agg(pl.len()).collect()
    assert counts.rows() == db.query("SELECT source, count(*) FROM gsm8k_sft GROUP BY 1").rows
    with pytest.raises(FFDataError, match="no Parquet shards for part 'nope'"):
        built.to_polars("nope")


def test_to_polars_refuses_a_shard_changed_after_publishing(built, tmp_path):
    import shutil

    from ffdata.sets import open_set

    root = tmp_path / "root"
    shutil.copytree(built.storage.root, root)
    copy = open_set(str(root), "gsm8k_sft")
    shard = root / copy.prefix / copy.record["shards"][1]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the sha256 tells
    shard.write_bytes(bytes(data))
    with pytest.raises(FFDataError, match=r"part-.*-00001\.parquet: sha256 mismatch"):
        copy.to_polars()


# --- fact tables ----------------------------------------------------------------------------


def _literature(tmp_path, *rows: str):
    path = tmp_path / "literature.csv"
    path.write_text("work,author,year,form,source,licence\n" + "".join(r + "\n" for r in rows))
    return path


OK = "Emma,Jane Austen,1815,novel,https://x,CC BY-SA 4.0"


def test_table_errors_name_the_first_bad_row_and_its_field(tmp_path):
    """Checks run column by column, yet the error is the file's first problem: the earliest
    line, and on that line the first check (required fields, then integers, then the key)."""
    cases = [
        # (rows, the error expected)
        ([OK, "Persuasion,,1817,novel,https://x,CC BY-SA 4.0", "Sanditon,Jane Austen,18x,novel,"
          "https://x,CC BY-SA 4.0"], r"literature\.csv:3: field 'author': row has an empty"),
        ([OK, "Persuasion,Jane Austen,18x,novel,https://x,CC BY-SA 4.0", "Sanditon,,1817,novel,"
          "https://x,CC BY-SA 4.0"], r"literature\.csv:3: field 'year': expected an integer, "
         r"got '18x'"),
        ([OK, "Lady Susan,Jane Austen,1871,novel,,CC BY-SA 4.0", OK],
         r"literature\.csv:3: field 'source': row has no source"),
        (["Persuasion,Jane Austen,1_817,novel,https://x,CC BY-SA 4.0"],
         r"literature\.csv:2: field 'year': expected an integer, got '1_817'"),
        ([OK, "Persuasion,Jane Austen,1817,novel,https://x,CC BY-SA 4.0", f" {OK} "],
         r"literature\.csv:4: field 'work': duplicate key \('Emma',\) \(first on line 2\)"),
    ]  # fmt: skip
    for rows, expected in cases:
        with pytest.raises(FFDataError, match=expected):
            load_table("literature", _literature(tmp_path, *rows))


def test_table_rows_are_typed_and_stripped_like_str_strip(tmp_path):
    assert set(_SPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    path = _literature(tmp_path, "\x1cEmma\u3000,Jane Austen, +1815 ,novel,https://x,CC BY-SA 4.0")
    table = load_table("literature", path)
    assert table.rows == [
        {"work": "Emma", "author": "Jane Austen", "year": 1815, "form": "novel",
         "source": "https://x", "licence": "CC BY-SA 4.0", "_row": 0, "_line": 2}
    ]  # fmt: skip
    assert table.frame.schema["year"] == pl.Int64
    assert table.frame.to_dicts() == table.rows


def test_cross_check_joins_find_uncredited_anchors_and_unknown_people():
    tables = load_all()
    assert cross_check(tables) == []
    anchors = tables["anchors"].rows
    anchors[0]["anchor"], anchors[1]["table"] = "Nobody Atall", "recipes"
    inventions = tables["inventions"]
    inventions.rows[2]["inventor"] = "Someone Else"
    problems = cross_check(tables)
    where = f"{TABLES_DIR / 'inventions.csv'}:{inventions.rows[2]['_line']}"
    assert problems == [
        f"{where}: inventor 'Someone Else' is not in persons",
        f"anchors:2: 'Nobody Atall' never credited in {anchors[0]['table']}",
        "anchors:3: unknown table 'recipes'",
    ]


def test_to_polars_reads_an_s3_set_through_its_checked_cache(
    built, tmp_path, s3_bucket, monkeypatch
):
    """Against moto's real S3 server: the same rows as the local build. An object changed on S3
    after publishing: a cached copy that still matches the record is read; a fresh fetch of
    the changed object is refused."""
    import boto3

    monkeypatch.setenv("FFDATA_CACHE", str(tmp_path / "cache"))
    manifest = write_gsm8k_manifest(tmp_path / "p", rows=300, rows_per_shard=100)
    remote, _ = build_set("gsm8k_sft", manifest, f"s3://{s3_bucket}", quiet=True)
    assert remote.fingerprint == built.fingerprint
    rows = built.to_polars().collect().rows()
    assert remote.to_polars().collect().rows() == rows
    s3 = boto3.client("s3")
    key = f"{remote.prefix}/{remote.record['shards'][2]['path']}"
    body = bytearray(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=s3_bucket, Key=key, Body=bytes(body))
    assert remote.to_polars().collect().rows() == rows
    monkeypatch.setenv("FFDATA_CACHE", str(tmp_path / "fresh_cache"))
    with pytest.raises(FFDataError, match=rf"s3://{s3_bucket}/{key}: sha256 mismatch"):
        remote.to_polars()
