"""Curated fact tables: attribution is mandatory, errors name file:line:field, tables agree."""

import shutil

import pytest

from ffdata.errors import FFDataError
from ffdata.tables import SCHEMAS, TABLES_DIR, cross_check, load_all, load_table


@pytest.fixture(scope="module")
def tables():
    return load_all()


def test_every_curated_table_loads_with_source_and_licence(tables):
    assert set(SCHEMAS) <= set(tables)
    for name, table in tables.items():
        assert table.rows, name
        for row in table.rows:
            assert row["source"] and row["licence"], (name, row["_line"])


def test_tables_agree_with_each_other(tables):
    assert cross_check(tables) == []


def test_countries_curated_to_english_sovereign_states(tables):
    rows = {r["country"]: r for r in tables["countries"].rows}
    assert rows["Algeria"]["capital"] == "Algiers"  # source had "Alger"
    assert rows["Austria"]["capital"] == "Vienna"  # source had "Wien"
    assert rows["China"]["capital"] == "Beijing"  # source had "Peking"
    local = {"Alger", "Wien", "Peking", "Roma", "Praha", "Warszawa", "Lisboa", "Athenai"}
    assert not local & {r["capital"] for r in rows.values()}
    assert "Guam" not in rows and "England" not in rows  # territories, constituent countries
    continents = {r["continent"] for r in rows.values()}
    assert continents <= {
        "",
        "Africa",
        "Asia",
        "Europe",
        "North America",
        "South America",
        "Oceania",
    }
    assert rows["Russia"]["continent"] == ""  # transcontinental: no single answer


def test_well_known_facts_are_right(tables):
    inv = {r["invention"]: r for r in tables["inventions"].rows}
    assert (inv["telephone"]["inventor"], inv["telephone"]["year"]) == (
        "Alexander Graham Bell",
        1876,
    )
    el = {r["symbol"]: r for r in tables["elements"].rows}
    assert (el["Fe"]["name"], el["Fe"]["number"]) == ("Iron", 26)
    lit = {r["work"]: r["author"] for r in tables["literature"].rows}
    assert lit["Pride and Prejudice"] == "Jane Austen"


def _copy(tmp_path, name):
    path = tmp_path / f"{name}.csv"
    shutil.copy(TABLES_DIR / f"{name}.csv", path)
    return path


def test_row_without_source_is_rejected_with_file_line_field(tmp_path):
    path = _copy(tmp_path, "inventions")
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[-2] = ""  # the `source` column of data row 2 (file line 4)
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(FFDataError, match=r"inventions\.csv:4: field 'source': row has no source"):
        load_table("inventions", path)


def test_bad_integer_duplicate_key_and_missing_column(tmp_path):
    path = tmp_path / "literature.csv"
    head = "work,author,year,form,source,licence\n"
    path.write_text(head + "Emma,Jane Austen,eighteen,novel,https://x,CC BY-SA 4.0\n")
    with pytest.raises(FFDataError, match=r":2: field 'year': expected an integer"):
        load_table("literature", path)
    row = "Emma,Jane Austen,1815,novel,https://x,CC BY-SA 4.0\n"
    path.write_text(head + row + row)
    with pytest.raises(FFDataError, match=r":3: field 'work': duplicate key"):
        load_table("literature", path)
    path.write_text("work,author,year,form,source\n" + "Emma,Jane Austen,1815,novel,https://x\n")
    with pytest.raises(FFDataError, match="missing column 'licence'"):
        load_table("literature", path)


def test_cross_check_catches_a_disagreement(tables):
    broken = dict(tables)
    persons = load_table("persons")
    for r in persons.rows:
        if r["name"] == "Alexander Graham Bell":
            r["fields"] = "composer"
            r["born"] = 1900
    broken["persons"] = persons
    problems = cross_check(broken)
    assert any("Alexander Graham Bell" in p and "persons says composer" in p for p in problems)
    assert any("credited in 1876, born 1900" in p for p in problems)
