"""The out-of-core mix planner (DuckDB, under a memory limit) writes the same plan files, byte for
byte, as the in-memory planner it replaced, and fails with the same messages. The tiny built
project is compared in test_pretrain_mix.py; here, synthetic sidecars of the full manifest."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from ffdata.errors import FFDataError
from ffdata.manifest import parse_manifest
from ffdata.pretrain import mixer, planner
from ffdata.pretrain.config import load_config
from ffdata.pretrain.sample import PROJECT, write_synthetic_sidecars


def _config(total_tokens=None, tokens_per_shard=None, shares=None):
    data = yaml.safe_load((PROJECT / "manifests/pretrain_mix_full.yaml").read_text())
    if total_tokens:
        data["targets"]["total_tokens"] = total_tokens
    if shares:
        data["targets"]["shares"] = shares
    if tokens_per_shard:
        data["options"]["tokens_per_shard"] = tokens_per_shard
    return load_config(parse_manifest(data, "full manifest"))


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _both(cfg, tokens, tmp_path):
    old = mixer.plan_mix_in_memory(cfg, tokens, tmp_path / "old")
    new = planner.plan_mix(cfg, tokens, tmp_path / "new", memory_limit="200MB")
    assert new == old
    old_files, new_files = _files(tmp_path / "old"), _files(tmp_path / "new")
    assert sorted(new_files) == sorted(old_files)
    for name, data in new_files.items():
        assert data == old_files[name], name
    return new


@pytest.fixture(scope="module")
def sidecars(tmp_path_factory):
    tokens = tmp_path_factory.mktemp("plan") / "tokens"
    return tokens, write_synthetic_sidecars(_config(), 40_000, tokens, rows_per_file=7_000)


@pytest.mark.parametrize(
    "case",
    [
        {"share": 0.9, "tokens_per_shard": 2_000_000},  # most sources downsampled, wiki repeated
        {"share": 1.6, "tokens_per_shard": 5_000_000},  # every source repeated, one partial copy
        # news' share 0: its documents all downsampled, none selected
        {"share": 0.9, "tokens_per_shard": 3_000_000,
         "shares": {"fineweb": 0.68, "c4": 0.17, "wikipedia": 0.07, "clean_web": 0.08, "news": 0.0}},
    ],
)  # fmt: skip
def test_out_of_core_plan_is_byte_identical_to_the_in_memory_plan(sidecars, tmp_path, case):
    tokens, available = sidecars
    cfg = _config(int(available * case["share"]), case["tokens_per_shard"], case.get("shares"))
    summary = _both(cfg, tokens, tmp_path)
    assert summary["shards"] > 5
    down = pq.read_table(tmp_path / "new" / "downsampled.parquet")
    repeats = {k: v["repeat_factor"] for k, v in summary["sources"].items()}
    if case["share"] < 1:
        assert down.num_rows > 1_000 and repeats["wikipedia_en"] > 1
    else:
        assert down.num_rows == 0 and min(repeats.values()) > 1
    if "shares" in case:
        assert summary["sources"]["news"]["selected_docs"] == 0
        assert "news" in set(down["source"].to_pylist())


def test_documents_longer_than_a_shard_leave_the_same_empty_plan_files(tmp_path):
    cfg = _config()
    available = write_synthetic_sidecars(cfg, 600, tmp_path / "tokens")
    cfg = _config(int(available * 0.8), tokens_per_shard=700)  # most documents span shards
    summary = _both(cfg, tmp_path / "tokens", tmp_path)
    rows = [pq.ParquetFile(p).metadata.num_rows for p in sorted((tmp_path / "new").glob("shard-*"))]
    assert len(rows) == summary["shards"] and rows.count(0) > 10


def test_errors_are_the_same_as_the_in_memory_planners(sidecars, tmp_path):
    tokens, available = sidecars
    cfg = _config(available * 10)  # far above max_repeat 4
    with pytest.raises(FFDataError) as old:
        mixer.plan_mix_in_memory(cfg, tokens, tmp_path / "old")
    with pytest.raises(FFDataError) as new:
        planner.plan_mix(cfg, tokens, tmp_path / "new")
    assert str(new.value) == str(old.value) and "above targets.max_repeat 4" in str(new.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FFDataError) as old:
        mixer.plan_mix_in_memory(cfg, empty, tmp_path / "old2")
    with pytest.raises(FFDataError) as new:
        planner.plan_mix(cfg, empty, tmp_path / "new2")
    assert str(new.value) == str(old.value) and "no documents left" in str(new.value)


def test_downsampled_rows_are_laid_out_as_write_table_lays_out_one_table(tmp_path):
    """Past one row group (1Mi rows) the streamed writer must still split row groups and chunks
    where pq.write_table splits the in-memory planner's table (one chunk per source)."""
    runs = [
        pa.table({"doc_id": [f"{name}:{i}" for i in range(n)], "source": [name] * n,
                  "source_row": pa.array(range(n), pa.int64())}, schema=planner.DOWN_SCHEMA)
        for name, n in (("a", 700_000), ("b", 900_000), ("c", 600_000))
    ]  # fmt: skip
    pq.write_table(pa.concat_tables(runs), tmp_path / "old.parquet")
    out = planner._RowGroupWriter(tmp_path / "new.parquet", planner.DOWN_SCHEMA)
    for run in runs:
        out.start_run()
        for start in range(0, run.num_rows, 100_000):  # as DuckDB hands over batches
            out.add(run.slice(start, 100_000))
    out.close()
    assert pq.ParquetFile(tmp_path / "new.parquet").metadata.num_row_groups == 3
    assert (tmp_path / "new.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
