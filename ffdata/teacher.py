"""Distillation teacher stage: answers for questions, resumable and cached.

Cache: one JSONL file per teacher under the cache folder; each line is
`{"key", "teacher", "answer"}` with key = sha256(teacher id, sha256(question), decoding params),
so a changed model, prompt or decoding setting never reuses an old answer. Lines are appended
and flushed after every batch: a killed run loses at most the batch in flight, and the next run
asks only for what is missing (a torn last line is ignored). Answers come back in question
order, so the set written from them does not depend on which run produced which answer.

Backends (`options.teacher.backend` in the manifest):
- `transformers`: a local causal LM (a folder `from_pretrained` reads), batched greedy decoding,
  left padding; the teacher id includes the sha256 of the weights file.
- `openai`: an OpenAI-compatible HTTP server (vLLM, TGI, …): POST {endpoint}/chat/completions,
  temperature 0, a few requests in flight, retries with backoff on connection errors and 5xx.
- `reference`: no model; the source's own reference answer (offline default, no teacher needed).
"""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes, sha256_file, sha256_json
from ffdata.records import SYSTEM_PROMPT, render_prompt

DECODING_KEYS = ("max_new_tokens", "temperature", "prompt_format", "system")


def decoding_params(cfg: dict) -> dict:
    return {
        "max_new_tokens": int(cfg.get("max_new_tokens", 512)),
        "temperature": float(cfg.get("temperature", 0.0)),
        "prompt_format": cfg.get("prompt_format", "alpaca"),  # or "chat" (server-side template)
        "system": cfg.get("system", SYSTEM_PROMPT),
    }


def cache_key(teacher_id: str, question: str, params: dict) -> str:
    q_hash = sha256_bytes(question.encode("utf-8"))
    return sha256_json({"teacher": teacher_id, "question": q_hash, "decoding": params})


class TeacherCache:
    """Append-only JSONL answer cache for one teacher."""

    def __init__(self, path: Path):
        self.path = path
        self.answers: dict[str, str] = {}
        if path.exists():
            lines = path.read_text(encoding="utf-8").split("\n")
            for lineno, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    if lineno >= len(lines) - 1:  # torn last line of a killed run: ask again
                        continue
                    raise FFDataError(f"{path}:{lineno}: malformed teacher cache line") from None
                self.answers[obj["key"]] = obj["answer"]

    def add(self, items: list[tuple[str, str]], teacher_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            for key, answer in items:
                f.write(json.dumps({"key": key, "teacher": teacher_id, "answer": answer}) + "\n")
                self.answers[key] = answer
            f.flush()


# ------------------------------------------------------------------------- backends


class TransformersTeacher:
    def __init__(self, model: str, params: dict, batch_size: int = 8, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model)
        self.id = f"transformers:{path.name}:{model_digest(path)[:16]}"
        self.params, self.batch_size = params, batch_size
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(path))
        self.tok.padding_side = "left"  # generation continues from the right end of every row
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForCausalLM.from_pretrained(str(path)).to(self.device).eval()

    def prompt(self, question: str) -> str:
        if self.params["prompt_format"] == "chat" and self.tok.chat_template:
            msgs = [
                {"role": "system", "content": self.params["system"]},
                {"role": "user", "content": question},
            ]
            return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return render_prompt(question, self.params["system"])

    def generate(self, questions: list[str]) -> list[str]:
        out = []
        for i in range(0, len(questions), self.batch_size):
            chunk = [self.prompt(q) for q in questions[i : i + self.batch_size]]
            enc = self.tok(chunk, return_tensors="pt", padding=True).to(self.device)
            with self.torch.no_grad():
                gen = self.model.generate(
                    **enc,
                    do_sample=False,  # greedy: the same answer every run
                    max_new_tokens=self.params["max_new_tokens"],
                    pad_token_id=self.tok.pad_token_id,
                )
            new = gen[:, enc["input_ids"].shape[1] :]
            out += [t.strip() for t in self.tok.batch_decode(new, skip_special_tokens=True)]
        return out


class OpenAITeacher:
    def __init__(
        self,
        model: str,
        endpoint: str,
        params: dict,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 4,
        api_key: str | None = None,
    ):
        self.id = f"openai:{model}"
        self.model, self.endpoint, self.params = model, endpoint.rstrip("/"), params
        self.concurrency, self.timeout, self.retries = concurrency, timeout, retries
        self.api_key = api_key

    def _post(self, question: str) -> str:
        if self.params["prompt_format"] == "alpaca":  # the FF template, as a plain completion
            url = f"{self.endpoint}/completions"
            body = {"prompt": render_prompt(question, self.params["system"])}
        else:
            url = f"{self.endpoint}/chat/completions"
            body = {
                "messages": [
                    {"role": "system", "content": self.params["system"]},
                    {"role": "user", "content": question},
                ]
            }
        body.update(
            model=self.model,
            temperature=self.params["temperature"],
            max_tokens=self.params["max_new_tokens"],
        )
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            try:
                req = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    choice = json.loads(resp.read())["choices"][0]
                return (
                    choice.get("text") or choice.get("message", {}).get("content") or ""
                ).strip()
            except urllib.error.HTTPError as e:
                if e.code < 500 or attempt == self.retries:
                    raise FFDataError(f"teacher {url}: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.retries:
                    raise FFDataError(f"teacher {url}: unreachable ({e})") from None
            time.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")

    def generate(self, questions: list[str]) -> list[str]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._post, questions))  # map keeps question order


def model_digest(path: Path) -> str:
    """sha256 over every file of a model folder (all weight shards, config, tokenizer): what the
    answers depend on. Hashing only the first shard let a changed second shard pass as the same
    teacher."""
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not weights:
        raise FFDataError(f"teacher model {path}: no weights file (*.safetensors, *.bin)")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sha256_json({p.relative_to(path).as_posix(): sha256_file(p) for p in files})


def teacher_identity(cfg: dict, base_dir: Path) -> dict:
    """The teacher as a fingerprint input: a local model by the digest of all its files; a served
    model by its name and endpoint (its weights cannot be seen from here, and the record says so).
    """
    backend = cfg.get("backend")
    if backend == "transformers":
        model = Path(cfg["model"])
        model = model if model.is_absolute() else base_dir / model
        return {"backend": backend, "model": model.name, "sha256": model_digest(model)}
    if backend == "openai":
        return {
            "backend": backend,
            "model": cfg.get("model"),
            "endpoint": cfg.get("endpoint"),
            "note": "served model: weights not hashed",
        }
    raise FFDataError(f"unknown teacher backend {backend!r} (transformers, openai, reference)")


def make_teacher(cfg: dict, base_dir: Path):
    params = decoding_params(cfg)
    backend = cfg.get("backend")
    if backend == "transformers":
        model = Path(cfg["model"])
        model = model if model.is_absolute() else base_dir / model
        return TransformersTeacher(
            str(model), params, int(cfg.get("batch_size", 8)), cfg.get("device")
        )
    if backend == "openai":
        import os

        key_env = cfg.get("api_key_env")
        return OpenAITeacher(
            cfg["model"],
            cfg["endpoint"],
            params,
            int(cfg.get("concurrency", 4)),
            float(cfg.get("timeout_s", 120)),
            api_key=os.environ.get(key_env) if key_env else None,
        )
    raise FFDataError(f"unknown teacher backend {backend!r} (transformers, openai, reference)")


def answer_all(
    questions: list[str],
    teacher,
    cache_dir: Path,
    batch_size: int = 64,
    progress: Callable | None = None,
) -> tuple[list[str], dict]:
    """Answers in question order; (answers, stats). Only uncached questions reach the teacher."""
    params = teacher.params
    safe_id = teacher.id.replace("/", "_").replace(":", "_")
    cache = TeacherCache(cache_dir / f"{safe_id}.jsonl")
    keys = [cache_key(teacher.id, q, params) for q in questions]
    todo = sorted(
        {k: q for k, q in zip(keys, questions, strict=True) if k not in cache.answers}.items()
    )
    hits = len(questions) - sum(1 for k in keys if k not in cache.answers)
    batches = range(0, len(todo), batch_size)
    for i in progress(batches) if progress else batches:
        chunk = todo[i : i + batch_size]
        answers = teacher.generate([q for _, q in chunk])
        cache.add([(k, a) for (k, _), a in zip(chunk, answers, strict=True)], teacher.id)
    stats = {"teacher": teacher.id, "asked": len(todo), "cache_hits": hits, "decoding": params}
    return [cache.answers[k] for k in keys], stats
