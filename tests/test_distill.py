"""distill_v3: exact counts by largest remainder, named fallbacks, and the teacher stage
(local transformers model and an OpenAI-compatible HTTP server, both cached and resumable)."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from builders.distill_v3 import largest_remainder, resolve_quotas
from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.manifest import load_manifest
from ffdata.teacher import OpenAITeacher, TeacherCache, answer_all, cache_key, decoding_params

from .conftest import REPO

SHARES = {
    "hellaswag": 37,
    "openhermes": 28,
    "mmlu": 14,
    "math": 12,
    "gsm8k": 7,
    "arc": 2,
    "truthfulqa": 1,
}


def test_full_scale_counts_sum_exactly():
    counts = largest_remainder(108_779, SHARES)
    assert sum(counts.values()) == 108_779
    assert counts == {"hellaswag": 39850, "openhermes": 30157, "mmlu": 15078, "math": 12924,
                      "gsm8k": 7539, "arc": 2154, "truthfulqa": 1077}  # fmt: skip
    full = load_manifest(REPO / "manifests" / "full" / "distill_v3.yaml")
    assert full.targets["total"] == 108_779
    assert largest_remainder(7, {"a": 1, "b": 1, "c": 1}) == {"a": 3, "b": 2, "c": 2}  # ties: first


def test_shortfall_needs_a_named_fallback():
    quotas = {"truthfulqa": 1076, "openhermes": 30157}
    with pytest.raises(
        FFDataError, match="'truthfulqa' has 817 usable questions for a quota of 1076"
    ):
        resolve_quotas(quotas, {"truthfulqa": 817, "openhermes": 10**6}, {}, "d")
    fb = {"truthfulqa": {"to": "openhermes", "reason": "eval set"}}
    final, moves = resolve_quotas(quotas, {"truthfulqa": 0, "openhermes": 10**6}, fb, "d")
    assert final == {"truthfulqa": 0, "openhermes": 31233}
    assert moves == [
        {"from": "truthfulqa", "to": "openhermes", "count": 1076, "reason": "eval set"}
    ]
    with pytest.raises(FFDataError, match="needs 'to'"):
        resolve_quotas(quotas, {"openhermes": 10**6}, {"truthfulqa": {"to": "nope"}}, "d")


def test_offline_build_has_exact_counts_and_states_the_fallback(tmp_path):
    built, _ = build_set("distill_v3", root=str(tmp_path), quiet=True)
    t = built.record["targets"]
    assert built.record["rows"] == 100
    assert built.record["counts"]["by_part"] == {k: v for k, v in t["final_counts"].items() if v}
    assert t["final_counts"]["truthfulqa"] == 0 and t["fallbacks_applied"][0]["to"] == "openhermes"
    assert "evaluation set" in t["fallbacks_applied"][0]["reason"]
    rows = built.read_table().to_pylist()
    assert all(r["response"] and r["text"].endswith(r["response"]) for r in rows)
    mcq = [r for r in rows if r["block"] in ("hellaswag", "mmlu", "arc")]
    assert all(json.loads(r["meta"])["gold"] == r["response"] for r in mcq)  # reference teacher


# ------------------------------------------------------------------------- teacher stage


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from ffdata.tokenizer import save_hf_tokenizer

    path = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=256, vocab_size=50257)
    GPT2LMHeadModel(cfg).save_pretrained(path)
    save_hf_tokenizer(path)
    return path


def test_transformers_teacher_is_cached_and_greedy(tiny_gpt2, tmp_path):
    from ffdata.teacher import TransformersTeacher

    params = decoding_params({"max_new_tokens": 6})
    teacher = TransformersTeacher(str(tiny_gpt2), params, batch_size=2, device="cpu")
    qs = ["What is 2+2?", "Name a colour.", "Why is the sky blue?"]
    answers, stats = answer_all(qs, teacher, tmp_path)
    assert stats["asked"] == 3 and stats["cache_hits"] == 0 and len(answers) == 3
    again, stats2 = answer_all(qs[::-1], teacher, tmp_path)
    assert stats2["asked"] == 0 and again == answers[::-1]  # all from cache, in question order
    fresh = TransformersTeacher(str(tiny_gpt2), params, batch_size=3, device="cpu")
    assert fresh.generate(qs) == answers  # greedy: batch size and run do not change answers
    other = decoding_params({"max_new_tokens": 7})
    assert cache_key(teacher.id, qs[0], params) != cache_key(teacher.id, qs[0], other)


class _Server:
    """A tiny OpenAI-compatible endpoint: answers 'A<n>' where n = len(question); can fail."""

    def __init__(self):
        self.calls, self.fail_after = 0, None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.calls += 1
                if server.fail_after is not None and server.calls > server.fail_after:
                    self.send_response(400)
                    self.end_headers()
                    return
                assert body["temperature"] == 0.0 and body["model"] == "teacher-x"
                question = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                answer = {
                    "choices": [{"message": {"content": f" A{len(question)} "}, "text": None}]
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_openai_teacher_resumes_after_a_failed_run(tmp_path):
    srv = _Server()
    try:
        params = decoding_params({"prompt_format": "chat", "max_new_tokens": 16})
        teacher = OpenAITeacher("teacher-x", srv.url, params, concurrency=2, retries=0)
        qs = [f"question number {i}" + "?" * i for i in range(10)]
        srv.fail_after = 4  # the run dies in its third batch of two
        with pytest.raises(FFDataError, match="HTTP 400"):
            answer_all(qs, teacher, tmp_path, batch_size=2)
        cached = len(TeacherCache(tmp_path / "openai_teacher-x.jsonl").answers)
        assert cached == 4
        srv.fail_after, srv.calls = None, 0
        answers, stats = answer_all(qs, teacher, tmp_path, batch_size=2)
        assert stats["asked"] == 6 and stats["cache_hits"] == 4 and srv.calls == 6
        assert answers == [f"A{len(q)}" for q in qs]
        # a torn last line (a run killed mid-write) is ignored, not fatal
        with open(tmp_path / "openai_teacher-x.jsonl", "a") as f:
            f.write('{"key": "abc", "ans')
        assert len(TeacherCache(tmp_path / "openai_teacher-x.jsonl").answers) == 10
    finally:
        srv.httpd.shutdown()


def test_full_manifest_pins_every_hub_source_and_refuses_an_unpinned_one(tmp_path):
    full = yaml.safe_load((REPO / "manifests" / "full" / "distill_v3.yaml").read_text())
    hub = [s for s in full["sources"] if s.get("loader") == "hf"]
    assert hub and all(re.fullmatch(r"[0-9a-f]{40}", s["revision"]) for s in hub)
    hub[3]["revision"] = "UNPINNED"  # math_train
    manifest = tmp_path / "distill_v3.yaml"
    manifest.write_text(yaml.safe_dump(full))
    with pytest.raises(FFDataError, match="'math_train' .* has revision 'UNPINNED'"):
        build_set("distill_v3", manifest, root=str(tmp_path / "out"))
