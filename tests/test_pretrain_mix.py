"""The pretrain_mix builder end to end on a tiny copy of the local sources (real datatrove
filters, dedup and executors): accounting, targets, decontamination, shards, determinism."""

import json

import pyarrow.parquet as pq
import pytest

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.evalsets import load_evalset
from ffdata.manifest import load_manifest
from ffdata.pretrain.config import load_config
from ffdata.pretrain.format import check_shard, read_tokens
from ffdata.pretrain.pipeline import Pipeline
from ffdata.pretrain.sample import PROJECT, make_tiny_project
from ffdata.sets import list_sets, open_set
from ffdata.tokenizer import decode

SRC = PROJECT / "data/sources/pretrain"


def _row(name: str, i: int) -> dict:
    return json.loads((SRC / f"{name}.jsonl").read_text(encoding="utf-8").split("\n")[i])


def planted() -> dict:
    mmlu = load_evalset("mmlu")[123]
    fw = _row("fineweb", 2)
    near = dict(fw, id="<urn:uuid:near-copy>", url="https://near.example/copy",
                text=fw["text"].replace(" the ", " a ", 1) + "\nThat is how it is solved.")  # fmt: skip
    empty = dict(_row("fineweb", 3), id="<urn:uuid:empty>", url="https://empty.example/", text="  ")
    recrawl = dict(_row("news", 1))
    recrawl["text"] += "\nThis story was updated with a correction."
    leaked = {
        "id": "planted-mmlu",
        "url": "https://notes.clean.example/planted",
        # real prose around the leaked item, so the quality filters keep it and decontam decides
        "text": f"{_row('clean_web', 0)['text']}\n\n{mmlu.question} The answer is {mmlu.answer}.\n\n"
        f"{_row('clean_web', 1)['text']}",
    }
    return {"fineweb": [near, empty], "news": [recrawl], "clean_web": [leaked]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("pm")
    manifest = make_tiny_project(base / "proj", extra_docs=planted(), options={"keep_work": True})
    s, fresh = build_set("pretrain_mix", manifest, root=str(base / "root"), quiet=True)
    assert fresh
    return base, manifest, s


def test_the_set_is_listed_and_verifies(built):
    base, _, s = built
    assert [x.fingerprint for x in list_sets(str(base / "root"))] == [s.fingerprint]
    assert open_set(str(base / "root"), "pretrain_mix").address == f"pretrain/{s.fingerprint}"
    assert len(s.verify()) == len(s.record["shards"]) > 1
    for shard, bin_path in zip(s.record["shards"], s.payload_paths(), strict=True):
        side = s.storage.path(f"{s.prefix}/{shard['path']}")
        stats = check_shard(bin_path, side)
        assert stats == {"documents": shard["rows"], "tokens": shard["tokens"]}
    assert s.record["tokens"] == sum(sh["tokens"] for sh in s.record["shards"])


def test_every_input_row_is_kept_or_dropped_with_a_reason(built):
    _, _, s = built
    rec = s.record
    rec_by_source = rec["reconciliation"]["by_source"]
    for source, counts in rec_by_source.items():
        assert counts["input"] == rec["reconciliation"]["rows_read"][source]
        assert counts["input"] == counts["kept"] + counts["dropped"]
    reasons = rec["dropped"]["by_reason"]
    for reason in ("malformed", "duplicate:exact", "duplicate:url", "duplicate:minhash",
                   "contaminated:mmlu", "downsampled", "filtered:gopher_repetition"):  # fmt: skip
        assert reasons.get(reason, 0) >= 1, (reason, reasons)
    dropped = pq.read_table(s.dropped_path()).to_pylist()
    assert len(dropped) == rec["dropped"]["total"]
    leaked = [d for d in dropped if "(doc planted-mmlu)" in d["detail"]]
    assert [d["reason"] for d in leaked] == ["contaminated:mmlu"]


def test_exact_duplicates_keep_one_copy_across_sources(built):
    _, _, s = built
    sides = [r for p in s.shard_paths() for r in pq.read_table(p).to_pylist()]
    kept_ids = {(r["source"], r["doc_id"]) for r in sides}
    dropped = pq.read_table(s.dropped_path()).to_pylist()
    dup_ids = {d["detail"].split(":", 1)[0] if d["detail"].startswith("<urn") else d["detail"]
               for d in dropped if d["reason"] == "duplicate:exact"}  # fmt: skip
    for doc_id in dup_ids:
        # the same document survives in exactly one source (or was downsampled there)
        survivors = {src for src, i in kept_ids if i == doc_id}
        assert len(survivors) <= 1


def test_each_source_lands_on_its_token_target(built):
    _, manifest, s = built
    rec = s.record
    cfg = load_config(load_manifest(manifest))
    tol = cfg.tolerance
    for src in cfg.sources:
        got = rec["counts"]["tokens_by_source"][src.name]
        assert abs(got - src.target_tokens) <= tol * src.target_tokens, src.name
        assert rec["targets"]["sources"][src.name]["selected_tokens"] == got
    # FineWeb-EDU is high quality: twice the share of each medium FineWeb slice
    t = rec["targets"]["sources"]
    assert t["fineweb_edu"]["target_tokens"] == 2 * t["fineweb"]["target_tokens"]
    assert t["fineweb_edu"]["repeat_factor"] > 1  # upsampled: its docs appear more than once


def test_tokens_decode_to_the_source_text(built):
    _, _, s = built
    wiki = {r["id"]: r["text"] for r in pq.read_table(SRC / "wikipedia_en.parquet").to_pylist()}
    checked = 0
    for side_path, bin_path in zip(s.shard_paths(), s.payload_paths(), strict=True):
        tokens = read_tokens(bin_path)
        for r in pq.read_table(side_path).to_pylist():
            if r["source"] == "wikipedia_en":  # no line filter touches Wikipedia text
                ids = tokens[r["offset"] : r["offset"] + r["length"]]
                assert decode(ids.tolist()) == wiki[r["doc_id"]]
                checked += 1
    assert checked > 3


def test_same_manifest_gives_byte_identical_shards(built, tmp_path):
    base, manifest, s = built
    again, _ = build_set("pretrain_mix", manifest, root=str(tmp_path / "root2"), quiet=True)
    assert again.fingerprint == s.fingerprint
    assert [x["sha256"] for x in again.record["shards"]] == [
        x["sha256"] for x in s.record["shards"]
    ]
    assert [x["payload"]["sha256"] for x in again.record["shards"]] == [
        x["payload"]["sha256"] for x in s.record["shards"]
    ]
    assert again.record["dropped"] == s.record["dropped"]


def test_the_audit_sql_runs_over_the_sidecars(built):
    import duckdb

    _, _, s = built
    glob = str(s.storage.path(s.prefix)) + "/part-mix-*.parquet"
    rows = duckdb.sql(
        f"SELECT source, sum(length + 1) AS tokens FROM read_parquet('{glob}') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert dict(rows) == s.record["counts"]["tokens_by_source"]


def test_just_audit_reports_token_targets_not_row_counts(built):
    from ffdata.audit import connect, run_audit

    base, _, s = built
    results = run_audit(connect(str(base / "root"), evalsets=False), "pretrain_mix")
    assert not any(r.failed for r in results)
    titles = [r.title for r in results]
    assert not any(t.startswith("Targets vs actual") for t in titles)  # row counts: replaced
    per_source = next(r for r in results if r.title.startswith("Tokens and documents per source"))
    rows = [dict(zip(per_source.columns, row, strict=True)) for row in per_source.rows]
    assert {r["source"]: r["tokens"] for r in rows} == s.record["counts"]["tokens_by_source"]
    assert all(r["ok"] for r in rows)


def test_unreachable_target_is_a_clear_error(tmp_path):
    manifest = make_tiny_project(tmp_path / "proj", rows=12, total_tokens=400_000,
                                 options={"dedup": {"exact": True, "url": False, "minhash": False}})  # fmt: skip
    with pytest.raises(
        FFDataError, match=r"source '\w+': needs \d+\.\d\dx its .* above targets\.max_repeat 4"
    ):
        build_set("pretrain_mix", manifest, root=str(tmp_path / "root"), quiet=True)


def test_executors_are_chosen_from_manifest_or_cli(tmp_path, monkeypatch):
    manifest = make_tiny_project(tmp_path / "proj", rows=4)
    m = load_manifest(manifest)
    m.options["executor"] = {"kind": "slurm", "slurm": {"partition": "cpu", "time": "01:00:00"}}
    pipe = Pipeline(load_config(m), tmp_path / "proj", tmp_path / "work")
    ex = pipe._executor("tokenize", [], tasks=3)
    assert type(ex).__name__ == "SlurmPipelineExecutor" and ex.world_size == 3
    del m.options["executor"]["slurm"]["partition"]
    with pytest.raises(FFDataError, match="slurm.partition is required"):
        Pipeline(load_config(m), tmp_path, tmp_path / "w")._executor("x", [], 1)
    monkeypatch.setenv("FFDATA_EXECUTOR", "local")  # the CLI's --executor wins
    ex = Pipeline(load_config(m), tmp_path, tmp_path / "w")._executor("x", [], 2)
    assert type(ex).__name__ == "LocalPipelineExecutor"
    monkeypatch.setenv("FFDATA_EXECUTOR", "ray")
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(FFDataError, match="needs the ray package"):
            Pipeline(load_config(m), tmp_path, tmp_path / "w")._executor("x", [], 2)
    # the executor is scheduling only: it does not change the fingerprint
    from ffdata.build import fingerprint

    m2 = load_manifest(manifest)
    assert fingerprint(m, {}, "b", "1", "c") == fingerprint(m2, {}, "b", "1", "c")


def test_a_source_with_share_or_weight_0_is_downsampled_to_nothing_and_recorded(tmp_path):
    """A group's share of 0 (or a source's weight of 0) failed reconciliation: its rows were
    neither selected nor recorded as downsampled. Now every row is dropped as downsampled."""
    shares = {"fineweb": 0.68, "c4": 0.17, "wikipedia": 0.07, "clean_web": 0.08, "news": 0.0}
    manifest = make_tiny_project(tmp_path / "proj", targets={"shares": shares},
                                 options={"dedup": {"exact": True, "url": False, "minhash": False}})  # fmt: skip
    s, _ = build_set("pretrain_mix", manifest, root=str(tmp_path / "root"), quiet=True)
    rec = s.record["reconciliation"]["by_source"]["news"]
    assert rec["read"] > 0 and rec["kept"] == 0 and rec["dropped"] == rec["read"]
    dropped = pq.read_table(s.dropped_path()).to_pylist()
    news = [d for d in dropped if d["source"] == "news"]
    assert len(news) == rec["read"]
    assert "downsampled" in {d["reason"] for d in news}
    assert s.record["counts"]["tokens_by_source"].get("news", 0) == 0


def test_the_out_of_core_plan_is_the_in_memory_plan_byte_for_byte(built, tmp_path):
    """The build planned with DuckDB (planner.plan_mix); the in-memory planner it replaced writes
    the same plan files from the same sidecars."""
    from ffdata.pretrain import mixer, planner

    base, manifest, _ = built
    work = next((base / "root" / "pretrain" / "_work").iterdir())  # keep_work: true
    cfg = load_config(load_manifest(manifest))
    old = mixer.plan_mix_in_memory(cfg, work / "tokens", tmp_path / "old")
    new = planner.plan_mix(cfg, work / "tokens", tmp_path / "new", memory_limit="100MB")
    assert new == old and old["shards"] > 1
    assert old["sources"]["news"]["downsampled_docs"] > 0
    files = sorted(p.name for p in (work / "plan").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "old").iterdir())
    for name in files:
        data = (tmp_path / "old" / name).read_bytes()
        assert (tmp_path / "new" / name).read_bytes() == data, name
        assert (work / "plan" / name).read_bytes() == data, name  # what the build used
