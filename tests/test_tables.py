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


# --- knowledge tables (Block A across subjects) and misconceptions (Block B) ----------------------


def test_knowledge_tables_state_well_known_facts(tables):
    def fact(table, entity, relation):
        return tables[table].by_key[(entity, relation)]["value"]

    assert fact("astronomy", "Titan", "moon_of") == "Saturn"
    assert fact("us_states", "Texas", "state_capital") == "Austin"
    assert fact("physics", "force", "si_unit") == "newton"
    assert fact("health", "scurvy", "deficiency_of") == "vitamin C"
    assert fact("currencies", "Japan", "currency_of") == "yen"  # not "Japanese yen": no echo
    assert fact("element_groups", "iron", "element_group") == "8"
    assert fact("element_groups", "iron", "element_block") == "d-block"
    assert ("lanthanum", "element_group") not in tables["element_groups"].by_key  # convention
    assert fact("biology", "dolphin", "animal_group") == "mammal"


def test_every_knowledge_row_is_a_known_relation_with_a_cited_source(tables):
    from ffdata.generators.subjects import KNOWLEDGE_TABLES, RELATIONS
    from ffdata.tables import KNOWLEDGE_TABLES as SCHEMA_TABLES

    assert set(KNOWLEDGE_TABLES) == set(SCHEMA_TABLES)
    for name in KNOWLEDGE_TABLES:
        for r in tables[name].rows:
            assert r["relation"] in RELATIONS, (name, r["_line"])
            assert "https://en.wikipedia.org/wiki/" in r["source"], (name, r["_line"])
    for r in tables["misconceptions"].rows:
        assert r["source"].startswith("https://en.wikipedia.org/wiki/List_of_common_misconceptions")


def test_subject_items_have_exactly_one_right_option(tables):
    """Forward: no distractor is the row's value. Reverse ("Which of these animals is a
    reptile?"): no distractor has the same value as the answer, in its table."""
    from ffdata.generators import subjects

    for name in subjects.KNOWLEDGE_TABLES:
        values = {(r["entity"], r["relation"]): r["value"] for r in tables[name].rows}
        for c in subjects.forward(tables, 1313, name):
            assert c.answer not in c.distractors and len(set(c.distractors)) == 3
        for c in subjects.reverse(tables, 1313, name):
            relation = c.meta["template"].removesuffix("_which")
            for d in c.distractors:
                assert values[(d, relation)] != values[(c.answer, relation)], (name, c.question, d)


def test_unknown_relation_and_long_misconception_answer_are_rejected(tmp_path, tables):
    from ffdata.generators import misconceptions, subjects

    path = tmp_path / "astronomy.csv"
    path.write_text(
        "entity,relation,value,source,licence\nTitan,orbits_around,Saturn,https://x,CC BY-SA 4.0\n"
    )
    broken = {"astronomy": load_table("astronomy", path)}
    with pytest.raises(FFDataError, match=r"astronomy.csv:2: field 'relation': unknown relation"):
        list(subjects.forward(broken, 1, "astronomy"))
    path = tmp_path / "misconceptions.csv"
    path.write_text(
        "question,answer,topic,source,licence\n"
        f"Is it so?,{'A very long answer that goes on. ' * 4},x,https://x,CC BY-SA 4.0\n"
    )
    broken = {"misconceptions": load_table("misconceptions", path)}
    with pytest.raises(FFDataError, match=r"misconceptions.csv:2: field 'answer'"):
        list(misconceptions.items(broken, 1))


def test_subject_keys_are_not_told_apart_by_rank_or_length(tables):
    """Over each knowledge table: the numeric key's rank among the sorted options is spread
    evenly, and the key is the shortest or the longest option about as often as chance."""
    from collections import Counter

    from ffdata.generators import subjects

    ranks = Counter()
    for c in subjects.forward(tables, 1313, "element_groups"):
        if c.meta["template"] == "element_group":
            ranks[sorted(int(x) for x in [c.answer, *c.distractors]).index(int(c.answer))] += 1
    assert max(ranks.values()) - min(ranks.values()) <= 1, ranks
    for name in ("currencies", "biology", "schools", "us_states", "compounds"):
        items = [c for c in subjects.forward(tables, 1313, name)]
        shortest = longest = 0.0
        for c in items:
            lengths = [len(o) for o in [c.answer, *c.distractors]]
            shortest += (len(c.answer) == min(lengths)) / lengths.count(min(lengths))
            longest += (len(c.answer) == max(lengths)) / lengths.count(max(lengths))
        assert shortest / len(items) <= 0.30 and longest / len(items) <= 0.30, name
