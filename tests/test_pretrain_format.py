"""Token shards, the tokenize step, the mixer and the manifest checks (no full pipeline runs)."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from ffdata.errors import FFDataError
from ffdata.manifest import parse_manifest
from ffdata.pretrain.config import load_config
from ffdata.pretrain.format import TokenShardWriter, check_shard, read_tokens
from ffdata.pretrain.planner import plan_mix
from ffdata.pretrain.sample import PROJECT
from ffdata.pretrain.steps import TokenizeToShards
from ffdata.tokenizer import EOT_ID, hf_tokenizer

REAL_TEXTS = [
    json.loads(line)["text"]
    for line in (PROJECT / "data/sources/pretrain/clean_web.jsonl")
    .read_text(encoding="utf-8")
    .split("\n")[:40]
] + ["Ünïcödé — “quotes”, emoji 🙂 and  double  spaces\n\nnew paragraph.", " leading space"]


def _doc(i, text, source="clean_web"):
    return Document(
        text=text, id=f"d{i}", metadata={"source": source, "module": "M1", "source_row": i}
    )


def test_tokenize_step_ids_match_the_hf_tokenizer_with_eot_after_each_doc(tmp_path):
    step = TokenizeToShards(str(tmp_path), batch_size=7)
    list(step.run((_doc(i, t) for i, t in enumerate(REAL_TEXTS)), rank=3))
    tokens = read_tokens(tmp_path / "00003.bin")
    side = pq.read_table(tmp_path / "00003.parquet").to_pylist()
    hf = hf_tokenizer()
    assert [r["doc_id"] for r in side] == [f"d{i}" for i in range(len(REAL_TEXTS))]
    for row, text in zip(side, REAL_TEXTS, strict=True):
        ids = tokens[row["offset"] : row["offset"] + row["length"]].tolist()
        assert ids == hf.encode(text)
        assert tokens[row["offset"] + row["length"]] == EOT_ID
        assert row["shard"] == 3 and row["copy"] == 0
    assert check_shard(tmp_path / "00003.bin", tmp_path / "00003.parquet")["documents"] == len(
        REAL_TEXTS
    )


def test_check_shard_catches_a_truncated_token_file(tmp_path):
    w = TokenShardWriter(tmp_path / "s")
    w.add("a", "x", "M", 0, [1, 2, 3])
    w.add("b", "x", "M", 1, [4, 5])
    w.close()
    data = (tmp_path / "s.bin").read_bytes()
    (tmp_path / "s.bin").write_bytes(data[:-2])  # drop the last EOT
    with pytest.raises(FFDataError, match="tokens but the sidecar describes"):
        check_shard(tmp_path / "s.bin", tmp_path / "s.parquet")


def _manifest(**targets):
    base = {
        "name": "pretrain_mix",
        "version": "1",
        "sources": [
            {
                "name": n,
                "loader": "jsonl",
                "path": f"{n}.jsonl",
                "sha256": "0" * 64,
                "options": {"module": "M1", "group": g, "quality": q, "schema": "clean_web"},
            }  # fmt: skip
            for n, g, q in [
                ("big", "web", "medium"),
                ("edu", "web", "high"),
                ("wiki", "wiki", "low"),
            ]
        ],
        "targets": {"total_tokens": 300_000, "shares": {"web": 0.9, "wiki": 0.1}, **targets},
        "options": {"tokens_per_shard": 50_000},
        "output": {"path": "pretrain"},
    }
    return base


def _tokens_dir(tmp_path, lengths_by_source: dict[str, list[int]], files: int):
    """Tokenized work shards as the pipeline writes them, split over `files` files."""
    out = tmp_path / f"tokens{files}"
    writers = [TokenShardWriter(out / f"{i:05d}", shard=i) for i in range(files)]
    k = 0
    for source, lengths in lengths_by_source.items():
        for j, n in enumerate(lengths):
            writers[k % files].add(f"{source}-{j}", source, "M1", j, np.full(n, 7, np.uint16))
            k += 1
    for w in writers:
        w.close()
    return out


def test_mix_lands_within_half_a_percent_and_repeats_a_small_source(tmp_path):
    rng = np.random.default_rng(0)
    lengths = {"big": rng.integers(50, 400, 2000).tolist(), "edu": rng.integers(50, 400, 500).tolist(),
               "wiki": rng.integers(50, 400, 60).tolist()}  # fmt: skip
    cfg = load_config(parse_manifest(_manifest(), "t"))
    summary = plan_mix(cfg, _tokens_dir(tmp_path, lengths, 1), tmp_path / "plan")
    for name, info in summary["sources"].items():
        assert (
            abs(info["selected_tokens"] - info["target_tokens"]) <= 0.005 * info["target_tokens"]
        ), name
    # edu (high quality) gets twice big's share of the web group; wiki needs ~2.3 copies
    assert (
        summary["sources"]["edu"]["target_tokens"] == 2 * summary["sources"]["big"]["target_tokens"]
    )
    assert summary["sources"]["wiki"]["repeat_factor"] > 2
    assert summary["sources"]["big"]["downsampled_docs"] > 0


def test_mix_cuts_shards_where_the_running_token_count_crosses_each_boundary(tmp_path):
    rng = np.random.default_rng(2)
    lengths = {s: rng.integers(20, 900, n).tolist() for s, n in [("big", 900), ("edu", 300), ("wiki", 80)]}  # fmt: skip
    cfg = load_config(parse_manifest(_manifest(), "t"))
    summary = plan_mix(cfg, _tokens_dir(tmp_path, lengths, 2), tmp_path / "plan")
    shards = sorted((tmp_path / "plan").glob("shard-*.parquet"))
    assert len(shards) == summary["shards"] >= 5
    start, per_shard = 0, cfg.tokens_per_shard
    for s, path in enumerate(shards):
        doc_lengths = pq.read_table(path, columns=["length"])["length"].to_pylist()
        assert doc_lengths, s
        for n in doc_lengths:  # a document lands in the shard where its first token falls
            assert start // per_shard == s
            start += n + 1  # + the EOT
    assert start == summary["selected_tokens"]


def test_mix_does_not_depend_on_how_documents_were_split_into_tasks(tmp_path):
    rng = np.random.default_rng(1)
    lengths = {
        s: rng.integers(20, 300, n).tolist() for s, n in [("big", 900), ("edu", 300), ("wiki", 80)]
    }
    cfg = load_config(parse_manifest(_manifest(total_tokens=150_000), "t"))
    plans = []
    for files in (1, 3):
        plan_mix(cfg, _tokens_dir(tmp_path, lengths, files), tmp_path / f"plan{files}")
        shards = sorted((tmp_path / f"plan{files}").glob("shard-*.parquet"))
        rows = [r for p in shards for r in pq.read_table(p).to_pylist()]
        plans.append([(r["doc_id"], r["copy"]) for r in rows])  # the final order too
    assert plans[0] == plans[1]


def test_mix_refuses_a_target_beyond_max_repeat(tmp_path):
    lengths = {"big": [100] * 2000, "edu": [100] * 2000, "wiki": [100] * 20}
    cfg = load_config(parse_manifest(_manifest(max_repeat=3), "t"))
    with pytest.raises(
        FFDataError, match=r"source 'wiki': needs 14\.85x its 2,020 available tokens .*max_repeat 3"
    ):
        plan_mix(cfg, _tokens_dir(tmp_path, lengths, 1), tmp_path / "plan")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m["targets"]["shares"].update(web=0.5), "shares must sum to 1"),
        (lambda m: m["options"].update(filters={"perplexity": {}}), "unknown filters"),
        (lambda m: m["sources"][2]["options"].update(group="books"), "group 'books' has no entry"),
        (lambda m: m["options"].update(executor={"kind": "k8s"}), "executor.kind"),
        (lambda m: m["sources"][0]["options"].pop("schema"), "options.schema is required"),
    ],
)
def test_manifest_mistakes_are_one_line_errors(change, message):
    m = _manifest()
    change(m)
    with pytest.raises(FFDataError, match=message):
        load_config(parse_manifest(m, "t"))


def test_a_row_missing_a_schema_field_names_file_row_and_field(tmp_path):
    from ffdata.pretrain.sources import make_reader

    (tmp_path / "c4.jsonl").write_text(
        json.dumps({"text": "fine", "timestamp": "t", "url": "u"})
        + "\n\n"
        + json.dumps({"text": "x", "url": "u"})
        + "\n"
    )
    m = _manifest()
    m["sources"] = [{"name": "c4", "loader": "jsonl", "path": "c4.jsonl", "sha256": "0" * 64,
                     "options": {"module": "M1 C4", "group": "web", "quality": "medium", "schema": "c4"}}]  # fmt: skip
    m["targets"]["shares"] = {"web": 1.0}
    cfg = load_config(parse_manifest(m, "t"))
    with pytest.raises(
        FFDataError, match=r"c4\.jsonl:2: source 'c4': field 'timestamp' is missing"
    ):
        list(make_reader(cfg.sources[0], tmp_path).run())


def test_opt_in_filter_without_its_download_is_a_clear_error(monkeypatch, tmp_path):
    from ffdata.pretrain.filters import check_downloads

    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty datatrove asset cache
    monkeypatch.delenv("FFDATA_ALLOW_DOWNLOADS", raising=False)
    import datatrove.io

    monkeypatch.setattr(
        datatrove.io, "cached_assets_path", lambda **kw: str(tmp_path / kw["namespace"])
    )
    import ffdata.pretrain.filters as f

    monkeypatch.setattr(f, "cached_assets_path", lambda **kw: str(tmp_path / kw["namespace"]))
    with pytest.raises(FFDataError, match="filter 'language' is enabled but needs the fastText"):
        check_downloads({"gopher_quality": {}, "language": {}})
    check_downloads({"gopher_quality": {}})  # nothing to download: no error


def test_hub_sources_read_through_huggingface_dataset_reader(tmp_path, monkeypatch):
    """The hub loader path (datatrove's HuggingFaceDatasetReader, streaming) on a local mirror."""
    from ffdata.pretrain.sources import make_reader

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    lines = (
        (PROJECT / "data/sources/pretrain/fineweb.jsonl")
        .read_text(encoding="utf-8")
        .split("\n")[:5]
    )
    (tmp_path / "fw.jsonl").write_text("\n".join(lines) + "\n")
    m = _manifest()
    m["sources"] = [{"name": "fineweb", "loader": "hf", "uri": "json", "revision": "main",
                     "options": {"module": "M1 BASE", "group": "web", "quality": "medium",
                                 "schema": "fineweb", "load_kwargs": {"data_files": str(tmp_path / "fw.jsonl")}}}]  # fmt: skip
    m["targets"]["shares"] = {"web": 1.0}
    docs = list(make_reader(load_config(parse_manifest(m, "t")).sources[0], tmp_path).run())
    assert [d.id for d in docs] == [json.loads(x)["id"] for x in lines]
    assert [d.metadata["source_row"] for d in docs] == [0, 1, 2, 3, 4]


def test_full_manifest_pins_every_hub_source_and_refuses_an_unpinned_one():
    import yaml

    full = yaml.safe_load((PROJECT / "manifests/pretrain_mix_full.yaml").read_text())
    cfg = load_config(parse_manifest(full, "full"))
    assert cfg.total_tokens == 90_000_000_000
    hub = [s for s in full["sources"] if s["loader"] == "hf"]
    assert len(hub) == 7 and all(len(s["revision"]) == 40 for s in hub)
    for bad in ("UNPINNED", "cd85054"):  # a placeholder; an abbreviated commit
        hub[3]["revision"] = bad  # fineweb_edu_ext
        with pytest.raises(FFDataError, match=f"fineweb_edu_ext': revision '{bad}' is not a full"):
            load_config(parse_manifest(full, "full"))


def _source_texts(name: str, n: int) -> list[str]:
    lines = (
        (PROJECT / f"data/sources/pretrain/{name}.jsonl").read_text(encoding="utf-8").split("\n")
    )
    return [json.loads(line)["text"] for line in lines[:n] if line.strip()]


def test_fast_word_splitter_gives_datatroves_words_and_filter_decisions():
    import copy

    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from ffdata.pretrain.filters import FILTER_CLASSES, WORD_SPLITTING
    from ffdata.pretrain.words import FastSpacyWords

    texts = REAL_TEXTS + _source_texts("fineweb", 30) + _source_texts("c4_en", 30)
    texts += ["a\u00a0b\tc\r\nd  e", "", "   "]
    ref, fast = load_word_tokenizer("en"), FastSpacyWords(reset_docs=7)  # resets mid-way too
    for t in texts:
        assert fast.word_tokenize(t) == ref.word_tokenize(t), t[:80]
        for line in t.splitlines():
            assert fast.span_tokenize(line) == ref.span_tokenize(line), line[:80]
    docs = [_doc(i, t) for i, t in enumerate(texts) if t.strip()]
    words = FastSpacyWords()
    for name in WORD_SPLITTING:
        bare = [d.id for d in FILTER_CLASSES[name]().run(iter(copy.deepcopy(docs)))]
        ours = [d.id for d in FILTER_CLASSES[name](language=words).run(iter(copy.deepcopy(docs)))]
        assert ours == bare, name
        assert 0 < len(bare) or name == "gopher_quality"


def test_fast_word_splitter_is_stable_where_datatroves_splitter_corrupts_its_vocab():
    """ "IS_ALPHA" (spaCy's attribute symbol 1) corrupts the blank vocabulary inside a memory
    zone: datatrove's shared splitter answers right once, then returns another word in its place
    (or drops it), and whether its next call raises depends on the process. Ours answers, every
    time, what a fresh datatrove splitter answers on its first call."""
    from datatrove.utils.word_tokenizers import SpaCyTokenizer

    from ffdata.pretrain.words import FastSpacyWords

    text = "IS_ALPHA trips spaCy's attribute parser"
    first_words = SpaCyTokenizer("en").word_tokenize(text)
    first_spans = SpaCyTokenizer("en").span_tokenize(text)
    assert first_words == ["IS_ALPHA", "trips", "spaCy", "'s", "attribute", "parser"]
    assert first_spans == [(0, len(text))]
    fast = FastSpacyWords(reset_docs=2)  # crosses a rebuild of the spaCy object too
    for _ in range(5):
        assert fast.word_tokenize(text) == first_words
        assert fast.span_tokenize(text) == first_spans


def test_local_readers_split_a_file_into_row_ranges_that_tile_it(tmp_path):
    import pyarrow as pa

    from ffdata.pretrain.sources import (
        RowRangeParquetReader,
        StrictJsonlReader,
        adapt_row,
        line_index,
        task_rows,
    )

    lines = (PROJECT / "data/sources/pretrain/news.jsonl").read_text(encoding="utf-8").split("\n")
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(lines[:10] + [""] + lines[10:23]) + "\n", encoding="utf-8")
    rows = [json.loads(x) for x in lines[:23]]
    wiki = tmp_path / "wiki.parquet"
    pq.write_table(
        pa.Table.from_pylist([{"id": str(i), "url": "", "title": "t", "text": f"row {i}"} for i in range(23)]),
        wiki, row_group_size=5,
    )  # fmt: skip

    def read(cls, p, schema, world, index_every=None):
        out = []
        for rank in range(world):
            r = cls(
                str(p.parent),
                glob_pattern=p.name,
                adapter=adapt_row,
                **({"batch_size": 4} if cls is RowRangeParquetReader else {}),
            )
            r.ff_source = {"name": "s", "module": "M", "schema": schema, "priority": 1}
            if index_every:  # tasks seek to a mark of the line index instead of reading from 0
                r.line_indexes = {p.name: line_index(p, every=index_every)}
            out.append(
                [(d.metadata["source_row"], d.text) for d in r.run(rank=rank, world_size=world)]
            )
        return out  # fmt: skip

    for cls, p, schema, n in ((StrictJsonlReader, path, "cc_news", 23), (RowRangeParquetReader, wiki, "wikipedia", 23)):  # fmt: skip
        whole = read(cls, p, schema, 1)[0]
        assert [r for r, _ in whole] == list(range(n))
        for world in (2, 3, 7):
            parts = read(cls, p, schema, world)
            assert [len(x) for x in parts] == [
                b - a for a, b in (task_rows(n, k, world) for k in range(world))
            ]
            assert sum(parts, []) == whole  # fmt: skip
            if cls is StrictJsonlReader:
                assert read(cls, p, schema, world, index_every=3) == parts
    assert read(StrictJsonlReader, path, "cc_news", 1)[0][11][1].endswith(rows[11]["text"])
    # a malformed line read after a seek is still named by its line number in the file
    lines_ = path.read_text(encoding="utf-8").split("\n")
    lines_[19] = "{not json"  # line 20: row 18 (line 11 is blank)
    path.write_text("\n".join(lines_), encoding="utf-8")
    with pytest.raises(FFDataError, match=r"news\.jsonl:20: malformed JSON"):
        read(StrictJsonlReader, path, "cc_news", 3, index_every=4)
