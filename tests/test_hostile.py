"""Hostile input (issue 15): wrong-typed fields, hostile text, oversized and deep rows, short sets,
and one clear `error:` line instead of a traceback. Each test reproduces a probe that once
published bad data or crashed."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ffdata.adapters import conversation_adapter, pair_adapter, question_adapter
from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.generators import realmcq
from ffdata.hashing import sha256_file
from tests.conftest import write_gsm8k_manifest

FFDATA = str(Path(sys.executable).parent / "ffdata")
GOOD_PAIR = {"prompt": "Name a colour.", "chosen": "Blue is a colour.", "rejected": "No."}


def dpo_project(tmp_path: Path, rows: list, extra: str = "") -> Path:
    """A project with one plain-pairs JSONL source (rows: dicts, or raw lines) and dpo_v1."""
    project = tmp_path / "p"
    (project / "data").mkdir(parents=True)
    (project / "manifests").mkdir()
    src = project / "data" / "pairs.jsonl"
    src.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    manifest = project / "manifests" / "dpo_v1.yaml"
    manifest.write_text(
        f"""name: dpo_v1
version: "1"
sources:
  - name: pairs
    loader: jsonl
    path: data/pairs.jsonl
    sha256: {sha256_file(src)}
    adapter: pairs{extra}
output:
  path: dpo/v1
decontamination:
  targets: []
"""
    )
    return manifest


def dropped(built) -> dict[int, tuple[str, str]]:
    return {
        d["source_row"]: (d["reason"], d["detail"])
        for d in pq.read_table(built.dropped_path()).to_pylist()
    }


def distinct(i: int) -> dict:
    return {**GOOD_PAIR, "prompt": f"Name colour number {i}."}


# ------------------------------------------------------------------ 1. wrong-typed source fields

ARC_ROW = {
    "id": "Mercury_1",
    "question": "Which gas do plants take in?",
    "choices": {
        "label": ["A", "B", "C", "D"],
        "text": ["oxygen", "carbon dioxide", "neon", "argon"],
    },
    "answerKey": "B",
}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"question": None}, "question is null"),
        ({"question": 12405}, "question should be str, got int"),
        ({"choices": {**ARC_ROW["choices"], "text": ["oxygen", None, "neon", "argon"]}}, "choices.text.1 is null"),
    ],
)  # fmt: skip
def test_real_mcq_refuses_wrong_typed_fields_instead_of_writing_none(change, field):
    # Before: str(None) made a question "None" and an option "None" (or the text "12405").
    assert realmcq.arc("arc", 0, ARC_ROW, "arc").question == ARC_ROW["question"]
    with pytest.raises(ValueError) as e:
        realmcq.arc("arc", 7, {**ARC_ROW, **change}, "arc")
    reason, _, detail = str(e.value).partition(":")  # repair_blocks' drop contract
    assert reason == "malformed" and detail == field


def test_every_adapter_kind_quarantines_a_malformed_row():
    conv = conversation_adapter("alpaca")({"instruction": None, "output": "x"}, "r")
    assert conv.problem == "malformed:instruction" and conv.messages == []
    q = question_adapter("arc")({**ARC_ROW, "question": 12405}, "r")
    assert q.text == "" and q.meta["problem"] == "malformed:question"
    pair = pair_adapter("pairs")({**GOOD_PAIR, "chosen": ["a"]}, "r")
    assert pair.chosen == "" and pair.meta["problem"] == "malformed:chosen"
    # a direct call still names the row and field in one line
    with pytest.raises(FFDataError, match="row 3: field 'question' is null"):
        question_adapter("arc").__wrapped__({**ARC_ROW, "question": None}, "row 3")


def test_a_build_quarantines_wrong_typed_rows_with_the_field(tmp_path):
    rows = [
        distinct(0),
        {**GOOD_PAIR, "prompt": None},
        {**GOOD_PAIR, "chosen": 12405},
        {**GOOD_PAIR, "rejected": None, "prompt": "Other?"},
        distinct(4),
    ]
    built, _ = build_set("dpo_v1", dpo_project(tmp_path, rows), str(tmp_path / "root"), quiet=True)
    table = built.read_table().to_pylist()
    assert [r["source_row"] for r in table] == [0, 4]
    assert not any("None" in r["prompt"] or "12405" in r["chosen"] for r in table)
    assert {i: r for i, (r, _) in dropped(built).items()} == {
        1: "malformed:prompt",
        2: "malformed:chosen",
        3: "malformed:rejected",
    }


def test_on_malformed_error_stops_at_the_file_line_and_field(tmp_path):
    rows = [distinct(0), "", {**GOOD_PAIR, "prompt": None}]
    m = dpo_project(tmp_path, rows, extra="\n    on_malformed: error")
    with pytest.raises(FFDataError, match=r"pairs\.jsonl:3: field 'prompt' is null"):
        build_set("dpo_v1", m, str(tmp_path / "root"), quiet=True)


def test_on_malformed_error_needs_a_known_layout(tmp_path):
    m = dpo_project(tmp_path, [distinct(0)], extra="\n    on_malformed: error")
    m.write_text(m.read_text().replace("adapter: pairs", "adapter: nosuch"))
    with pytest.raises(FFDataError, match="on_malformed 'error' checks the row layout"):
        build_set("dpo_v1", m, str(tmp_path / "root"), quiet=True)


# ------------------------------------------------------------------ hostile text and sizes

HOSTILE = [
    ({"prompt": "Say\x00hi."}, "control_char", "prompt: U+0000 at character 3"),
    ({"chosen": "Fine\x1b[2J."}, "control_char", "chosen: U+001B"),
    ({"prompt": "abc\u202edcba"}, "bidi_override", "prompt: U+202E"),
    ({"rejected": "x\u2066y"}, "bidi_override", "rejected: U+2066"),
    ({"prompt": "half \ud800 a pair"}, "invalid_unicode", "prompt: U+D800"),
]


def test_control_bidi_and_surrogate_text_is_quarantined_with_a_reason(tmp_path):
    rows = [distinct(0)] + [{**distinct(i + 1), **c} for i, (c, *_) in enumerate(HOSTILE)]
    # json.dumps writes the lone surrogate as the escape "\ud800", as a hostile file would
    built, _ = build_set("dpo_v1", dpo_project(tmp_path, rows), str(tmp_path / "root"), quiet=True)
    assert [r["source_row"] for r in built.read_table().to_pylist()] == [0]
    got = dropped(built)
    for i, (_, reason, detail) in enumerate(HOSTILE, start=1):
        assert got[i][0] == reason and got[i][1].startswith(detail), got[i]
    rec = built.record["reconciliation"]
    assert rec["input"] == len(rows) and rec["kept"] + rec["dropped"] == len(rows)


def test_huge_and_deep_rows_are_quarantined_not_parsed_whole(tmp_path):
    huge = json.dumps({**distinct(1), "chosen": "x" * (5 << 20)})  # 5 MiB > the 4 MiB default
    deep = '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}"  # RecursionError in json
    nested = "x"
    for _ in range(40):  # deeper than the default max_depth (32), far from json's own limit
        nested = [nested]
    mid = {**distinct(3), "extra": nested}
    rows = [distinct(0), huge, deep, mid, distinct(4)]
    built, _ = build_set("dpo_v1", dpo_project(tmp_path, rows), str(tmp_path / "root"), quiet=True)
    assert [r["source_row"] for r in built.read_table().to_pylist()] == [0, 4]
    got = dropped(built)
    assert got[1][0] == "too_large" and "max_row_bytes" in got[1][1]
    assert got[2][0] == "too_deep" and got[3][0] == "too_deep"


def test_row_limits_come_from_the_manifest(tmp_path):
    rows = [distinct(0), {**distinct(1), "chosen": "y" * 300}]
    m = dpo_project(tmp_path, rows, extra="\n    max_row_bytes: 200")
    built, _ = build_set("dpo_v1", m, str(tmp_path / "root"), quiet=True)
    assert dropped(built)[1][0] == "too_large"
    assert [r["source_row"] for r in built.read_table().to_pylist()] == [0]


# ------------------------------------------------------------------ 3. sets published short


@pytest.mark.parametrize("body", ["", "\n  \n\n"])
def test_an_empty_or_blank_source_is_an_error_not_a_zero_row_set(tmp_path, body):
    project = tmp_path / "p"
    write_gsm8k_manifest(project, rows=10)
    src = project / "data/sources/gsm8k/train.jsonl"
    src.write_text(body)
    m = write_gsm8k_manifest(project, rows=10, sha256=sha256_file(src))
    with pytest.raises(FFDataError, match="source 'gsm8k_train' has no rows"):
        build_set("gsm8k_sft", m, str(tmp_path / "root"), quiet=True)
    assert not list((tmp_path / "root").rglob("_build.json"))


def test_a_set_short_of_its_target_rows_is_an_error_naming_the_shortfall(tmp_path):
    m = write_gsm8k_manifest(tmp_path / "p", rows=9000)  # the file holds 7,473 rows
    with pytest.raises(
        FFDataError, match=r"built 7,473 rows, its targets ask for 9,000 \(1,527 short\)"
    ):
        build_set("gsm8k_sft", m, str(tmp_path / "root"), quiet=True)
    assert not list((tmp_path / "root").rglob("_build.json"))


@pytest.mark.parametrize(
    "rows, expect",
    [
        ("-5", "targets.rows: Input should be greater than 0"),
        ("10.5", "targets.rows: Input should be a valid integer"),
        ('"100"', "targets.rows: Input should be a valid integer"),
        ("1e12", "targets.rows: Input should be a valid integer"),  # YAML 1.1 reads a string
        ("1000000000000", "targets.rows: Input should be less than or equal to 100000000"),
    ],
)
def test_target_counts_are_bounded_positive_integers(tmp_path, rows, expect):
    m = write_gsm8k_manifest(tmp_path / "p", rows=10)
    m.write_text(m.read_text().replace("rows: 10", f"rows: {rows}"))
    with pytest.raises(FFDataError, match=expect):
        build_set("gsm8k_sft", m, str(tmp_path / "root"), quiet=True)


def test_a_misspelt_target_or_option_key_is_an_error(tmp_path):
    m = write_gsm8k_manifest(tmp_path / "p", rows=10)
    m.write_text(m.read_text().replace("  rows: 10", "  row: 10"))
    with pytest.raises(
        FFDataError, match=r"gsm8k_sft\.yaml: invalid targets: targets\.row: unknown key"
    ):
        build_set("gsm8k_sft", m, str(tmp_path / "root"), quiet=True)
    m = dpo_project(tmp_path / "d", [distinct(0)])
    m.write_text(m.read_text().replace("output:", "options:\n  max_token: 10\noutput:"))
    with pytest.raises(FFDataError, match=r"options\.max_token: unknown key"):
        build_set("dpo_v1", m, str(tmp_path / "root"), quiet=True)
    m.write_text(m.read_text().replace("options:\n  max_token: 10\n", "").replace(
        "    adapter: pairs", "    adapter: pairs\n    options: {english_onyl: true}"
    ))  # fmt: skip
    with pytest.raises(FFDataError, match=r"sources\.0\.options\.english_onyl: unknown key"):
        build_set("dpo_v1", m, str(tmp_path / "root"), quiet=True)


# ------------------------------------------------------------------ one clear line (CLI)


def one_error_line(out) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    return errors[0]


@pytest.mark.parametrize(
    "edit, expect",
    [
        (("rows: 10", 'rows: "100"'), "targets.rows: Input should be a valid integer"),
        (('version: "1"', 'version: "1"\nbuilder: os.path'), "builder: String should match"),
        (("rows: 10", "rows: 10\n  rows: 20"), "line 11: duplicate key 'rows'"),
    ],
)
def test_bad_manifests_print_one_error_line(tmp_path, edit, expect):
    m = write_gsm8k_manifest(tmp_path / "p", rows=10)
    m.write_text(m.read_text().replace(*edit))
    out = subprocess.run(
        [FFDATA, "build", "gsm8k_sft", "--manifest", str(m), "--root", str(tmp_path / "r")],
        capture_output=True,
        text=True,
    )
    line = one_error_line(out)
    assert str(m) in line and expect in line, line


# ------------------------------------------------------------------ 5. read-only SQL


@pytest.fixture(scope="module")
def sql_root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sql")
    m = write_gsm8k_manifest(tmp / "p", rows=50)
    built, _ = build_set("gsm8k_sft", m, str(tmp / "root"), quiet=True)
    return tmp, built


def run_sql(root, query: str):
    return subprocess.run(
        [FFDATA, "sql", query, "--root", str(root), "--format", "csv"],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "query, refused",
    [
        ("COPY (SELECT 1 AS id) TO '{shard}' (FORMAT parquet)", "refused COPY"),
        ("COPY gsm8k_sft TO '{tmp}/out.csv'", "refused COPY"),
        ("EXPORT DATABASE '{tmp}/exported'", "refused EXPORT"),
        ("ATTACH '{tmp}/x.db' AS x", "refused ATTACH"),
        ("ATTACH '{dir}/x.db' AS x", "refused ATTACH"),
        ("INSTALL httpfs", "refused INSTALL"),
        ("LOAD httpfs", "refused LOAD"),
        ("PREPARE p AS COPY (SELECT 1) TO '{tmp}/p.csv'", "refused PREPARE"),
        ("SET enable_external_access = true", "the configuration has been locked"),
        ("SET allowed_directories = ['/']", "the configuration has been locked"),
        ("RESET lock_configuration", "the configuration has been locked"),
        ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
        ("SELECT * FROM read_text('{tmp}/p/manifests/gsm8k_sft.yaml')", "operations are disabled"),
        ("SELECT * FROM glob('/etc/*')", "file system operations are disabled"),
    ],
)
def test_sql_is_read_only_over_the_built_sets(sql_root, query, refused):
    tmp, built = sql_root
    shard = built.shard_paths()[0]
    before = {p: p.read_bytes() for p in shard.parent.iterdir()}
    q = query.format(shard=shard, tmp=tmp, dir=shard.parent)
    line = one_error_line(run_sql(tmp / "root", q))
    assert refused in line, line
    assert {p: p.read_bytes() for p in shard.parent.iterdir()} == before  # nothing written
    assert not [p for p in tmp.rglob("*") if p.name in ("out.csv", "x.db", "p.csv", "exported")]
    built.verify()


def test_sql_still_reads_sets_and_keeps_its_own_tables_in_memory(sql_root):
    tmp, built = sql_root
    before = sorted(p for p in tmp.rglob("*"))
    out = run_sql(
        tmp / "root", "CREATE TABLE t AS SELECT count(*) AS n FROM gsm8k_sft; SELECT n FROM t"
    )
    assert out.returncode == 0 and out.stdout.split() == ["n", "50"], out.stderr
    out = run_sql(tmp / "root", "SELECT count(*) AS n FROM read_parquet(getvariable('x'))")
    assert out.returncode == 2  # no variable: still one clear error, not a read of anything
    assert sorted(p for p in tmp.rglob("*")) == before
    # what the audits read after the lockdown: the views, the record, the set's own folder
    from ffdata.audit import connect

    db = connect(str(tmp / "root"))
    db.focus("gsm8k_sft")
    assert db.query("SELECT count(*) FROM shards").rows == [(50,)]
    assert db.query("SELECT count(*) FROM build").rows == [(1,)]
    own = "SELECT count(*) FROM read_parquet(getvariable('set_dir') || '/*.parquet')"
    assert db.query(own).rows[0][0] >= 50


# ------------------------------------------------------------------ one clear line: faults

FAULTS = {
    # a real ENOSPC: /dev/full refuses every write
    "disk_full": (
        "open('/dev/full', 'wb').write(b'x' * 100_000)",
        "No space left on device (errno 28)",
    ),
    "deep": ("import json; json.loads('[' * 100_000 + ']' * 100_000)", "nested too deeply"),
    "surrogate": ("'\\ud800'.encode('utf-8')", "surrogates not allowed"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faults_inside_a_build_print_one_error_line(tmp_path, fault):
    code, expect = FAULTS[fault]
    script = (
        "import ffdata.build as b\n"
        f"def fail(*a, **k):\n    {code}\n"
        "b.build_set = fail\n"
        "from ffdata.cli import app\n"
        "app(['build', 'gsm8k_sft'], prog_name='ffdata')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert expect in one_error_line(out)


@pytest.mark.parametrize(
    "endpoint, expect",
    [
        ("not a url", "S3: ValueError: Invalid endpoint: not a url"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://127.0.0.1:{port}", "EndpointConnectionError"),
    ],
)
def test_a_bad_s3_endpoint_is_one_error_line(tmp_path, endpoint, expect):
    from tests.conftest import free_port

    env = {
        **__import__("os").environ,
        "AWS_ENDPOINT_URL": endpoint.format(port=free_port()),  # nothing listens there
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    for cmd in (["ls"], ["sql", "SELECT 1"]):
        out = subprocess.run(
            [FFDATA, *cmd, "--root", "s3://bucket/ff"], capture_output=True, text=True, env=env
        )
        assert expect in one_error_line(out)


# ------------------------------------------------------------------ 6. counts bounded before use

REPAIR = Path(__file__).resolve().parent.parent / "manifests" / "repair_blocks.yaml"


@pytest.mark.parametrize(
    "old, new, expect",
    [
        ("validation: 801", "validation: 1000000000000", "targets.validation: Input should be less"),
        ("validation: 801", "validation: 1e12", "targets.validation: Input should be a valid integer"),
        ("validation: 801", "validation: -801", "targets.validation: Input should be greater"),
        ("validation: 801", "validation: 10.5", "targets.validation: Input should be a valid integer"),
        ("validation: 801", "validaton: 801", "targets.validaton: unknown key"),
        ("block_a_source: local", "block_a_sourse: hf", "options.block_a_sourse: unknown key"),
        ("block_a_source: local", "block_a_source: hub", "options.block_a_source: Input should be"),
    ],
)  # fmt: skip
def test_repair_blocks_counts_and_keys_are_checked_before_anything_is_drawn(
    tmp_path, old, new, expect
):
    # Before: 1e12 grew to 21 GB, -801 looped forever, a misspelt key was ignored.
    text = REPAIR.read_text()
    assert old in text
    (tmp_path / "manifests").mkdir()
    m = tmp_path / "manifests" / "repair_blocks.yaml"
    m.write_text(text.replace(old, new))
    with pytest.raises(FFDataError, match=rf"repair_blocks\.yaml: invalid \w+: {expect}"):
        build_set("repair_blocks", m, str(tmp_path / "root"), quiet=True)


def test_a_pair_set_short_of_its_expected_rows_is_refused(tmp_path):
    m = dpo_project(tmp_path, [distinct(0), distinct(1), {**GOOD_PAIR, "prompt": None}])
    m.write_text(m.read_text().replace("output:", "targets:\n  expected_rows: 3\noutput:"))
    with pytest.raises(
        FFDataError,
        match=r"built 2 rows, its targets ask for 3 \(1 short\); dropped: malformed:prompt 1",
    ):
        build_set("dpo_v1", m, str(tmp_path / "root"), quiet=True)
    m.write_text(m.read_text().replace("expected_rows: 3", "expected_rows: 2"))
    assert build_set("dpo_v1", m, str(tmp_path / "root"), quiet=True)[0].record["rows"] == 2


def test_hub_rows_are_screened_like_file_rows(tmp_path):
    # a hub source read through `datasets` (here its `files` from a local mirror) meets the
    # same screen: quarantined with a reason in a build, one line naming the row otherwise
    from ffdata.manifest import SourceSpec
    from ffdata.sources import Quarantined, open_source

    mirror = tmp_path / "pairs.json"
    mirror.write_text(json.dumps([distinct(0), {**distinct(1), "chosen": "bad\x00"}]))
    spec = SourceSpec(
        name="pairs", loader="hf", uri="o/pairs", revision="e5" * 20, files=["pairs.json"],
        options={"load_kwargs": {"data_files": str(mirror)}},
    )  # fmt: skip
    rows = list(open_source(spec, tmp_path, quarantine=True)[1])
    assert rows[0] == (0, distinct(0))
    assert rows[1] == (1, Quarantined("control_char", "chosen: U+0000 at character 3"))
    with pytest.raises(FFDataError, match=r"source 'pairs' \(o/pairs\) row 1: control_char"):
        list(open_source(spec, tmp_path)[1])


def test_a_hostile_key_is_quarantined_and_named_printably(tmp_path):
    rows = [distinct(0), {**distinct(1), "x\ud800": 1}, {**distinct(2), "y\x00": 1}]
    built, _ = build_set("dpo_v1", dpo_project(tmp_path, rows), str(tmp_path / "root"), quiet=True)
    assert dropped(built) == {
        1: ("invalid_unicode", "x\\ud800: a key holds U+D800"),
        2: ("control_char", "y\\u0000: a key holds U+0000"),
    }
