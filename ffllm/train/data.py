"""Training examples from built sets, served in a fixed, seeded order.

SFT-like stages (sft, repair, distill) read the Parquet shards of a set. Shards tokenized at
build time (`input_ids`, `loss_mask`, `n_tokens`; ffdata.sft_tokenize) are used as they are.
Otherwise the prompt (system + instruction, rendered up to the response header) and the response
are tokenized separately, so
the boundary of the loss mask is exact and matches what the model sees at inference, where it is
given the prompt tokens and generates the rest. The response ends with end-of-text (the model
learns to stop); batches are padded with end-of-text, and padding and prompt carry no loss.

The pretrain stage reads raw uint16 token shards (any non-Parquet shard) through memory maps and cuts
them into blocks of `seq_len` tokens, every token labelled.

The order of an epoch is a permutation seeded by (seed, epoch); step s of an epoch takes the
next `global` positions of it, wrapping around at the end so every step has a full batch.
Position (epoch, step) therefore fixes the data exactly, which is what makes resume exact.

Replay (`data.replay: {parts: [A, B, D], share: 0.5}`): rows of earlier parts mixed into an SFT
run to limit forgetting (FF_3.14's humanities SFT replays the repair blocks). The replay rows make
up `share` of the run's examples: round(share / (1 - share) × main rows), split over the replay
parts in proportion to their sizes (largest remainder), each part's rows a seeded sample without
replacement. The sample is drawn once per run (seed, part), so it is the same on every rank,
epoch and resume; the epoch permutation then mixes it with the main rows.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from ffdata.errors import FFDataError
from ffdata.records import render_prompt
from ffdata.tokenizer import EOT_ID, encode_batch
from ffllm.train.loss import IGNORE

PAD_MULTIPLE = 64  # batch lengths are rounded up to this: fewer shapes for torch.compile


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T) int64
    labels: torch.Tensor  # (B, T) int64, IGNORE where no loss

    @property
    def n_tokens(self) -> int:
        return self.input_ids.numel()


class SFTExamples:
    """Tokenized prompt/response pairs; `ids[i]` is prompt + response + EOT, cut to seq_len."""

    def __init__(self, ids: list[np.ndarray], n_prompt: np.ndarray, n_cut: int, cut=None):
        self.ids = ids
        self.n_prompt = n_prompt
        self.n_cut = n_cut  # examples longer than seq_len (their response was cut)
        self.cut = cut  # per example, when known: was it cut (replay counts its sample's)

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, indices) -> Batch:
        rows = [self.ids[i] for i in indices]
        width = -(-max(len(r) for r in rows) // PAD_MULTIPLE) * PAD_MULTIPLE
        input_ids = np.full((len(rows), width), EOT_ID, dtype=np.int64)
        labels = np.full((len(rows), width), IGNORE, dtype=np.int64)
        for row, (i, ids) in enumerate(zip(indices, rows, strict=True)):
            input_ids[row, : len(ids)] = ids
            labels[row, self.n_prompt[i] : len(ids)] = ids[self.n_prompt[i] :]
        return Batch(torch.from_numpy(input_ids), torch.from_numpy(labels))


def _pretokenized(path: Path, seq_len: int) -> tuple[list, list, list]:
    """Rows tokenized at build time (ffdata.sft_tokenize: input_ids, loss_mask, n_tokens)."""
    table = pq.read_table(path, columns=["input_ids", "loss_mask", "n_tokens"])
    ids, n_prompt, cut = [], [], []
    for row, (tokens, mask, n) in enumerate(
        zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
    ):
        mask = np.asarray(mask[:n], dtype=np.int8)
        first = int(np.argmax(mask)) if mask.any() else n
        if not (mask[first:] == 1).all():  # the loss must cover one suffix: the response
            raise FFDataError(f"{path}: row {row}: field 'loss_mask' is not 0…0 1…1 (+ padding)")
        cut.append(n > seq_len)
        ids.append(np.asarray(tokens[: min(n, seq_len)], dtype=np.int64))
        n_prompt.append(min(first, seq_len))
    return ids, n_prompt, cut


def _from_text(path: Path, seq_len: int) -> tuple[list, list, list]:
    """Rows as text: tokenize prompt and response separately (the mask boundary is exact)."""
    table = pq.read_table(path, columns=["system", "instruction", "response", "text"])
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    prompts = []
    for row in range(table.num_rows):
        for field in ("system", "instruction", "response", "text"):
            if not isinstance(cols[field][row], str):
                raise FFDataError(f"{path}: row {row}: field {field!r} is not a string")
        prompt = render_prompt(cols["instruction"][row], cols["system"][row])
        if cols["text"][row] != prompt + cols["response"][row]:
            raise FFDataError(
                f"{path}: row {row}: field 'text' is not the template rendering of "
                "system/instruction/response"
            )
        prompts.append(prompt)
    ids, n_prompt, cut = [], [], []
    for p, r in zip(
        encode_batch(prompts, num_threads=4),
        encode_batch(cols["response"], num_threads=4),
        strict=True,
    ):
        full = p + r + [EOT_ID]
        cut.append(len(full) > seq_len)
        ids.append(np.asarray(full[:seq_len], dtype=np.int64))
        n_prompt.append(min(len(p), seq_len))
    return ids, n_prompt, cut


def load_sft(paths: list[Path], seq_len: int) -> SFTExamples:
    ids, n_prompt, cut = [], [], []
    for path in paths:
        tokenized = {"input_ids", "loss_mask", "n_tokens"} <= set(pq.read_schema(path).names)
        more = (_pretokenized if tokenized else _from_text)(path, seq_len)
        ids += more[0]
        n_prompt += more[1]
        cut += more[2]
    if not ids:
        raise FFDataError(f"no SFT rows in {[str(p) for p in paths]}")
    cut = np.asarray(cut, dtype=bool)
    return SFTExamples(ids, np.asarray(n_prompt, dtype=np.int64), int(cut.sum()), cut)


def replay_counts(n_main: int, sizes: dict[str, int], share: float) -> dict[str, int]:
    """Rows to replay from each part: `share` of all examples, in proportion to the parts' sizes
    (largest remainder, ties by part name, so the counts are exact and deterministic)."""
    if not 0 < share < 1:
        raise FFDataError(f"data.replay.share: expected a fraction in (0, 1), got {share}")
    want = round(share / (1 - share) * n_main)
    have = sum(sizes.values())
    if want > have:
        raise FFDataError(
            f"data.replay: share {share} of {n_main} training rows needs {want} replay rows; "
            f"parts {sorted(sizes)} hold {have}"
        )
    exact = {p: want * n / have for p, n in sizes.items()}
    out = {p: int(x) for p, x in exact.items()}
    for p in sorted(exact, key=lambda p: (-(exact[p] - out[p]), p))[: want - sum(out.values())]:
        out[p] += 1
    return out


def replay_rows(part: str, size: int, n: int, seed: int) -> np.ndarray:
    """n row indices of a replay part, a seeded sample without replacement, in row order."""
    rng = np.random.default_rng([seed, *part.encode()])
    return np.sort(rng.permutation(size)[:n])


def add_replay(examples: SFTExamples, replay: dict[str, SFTExamples], share: float, seed: int):
    """The run's examples followed by the replay sample of each part; `.replay` records the
    counts (part -> rows) for run.json."""
    if not isinstance(examples, SFTExamples):
        raise FFDataError("data.replay: only SFT-like stages replay earlier parts")
    counts = replay_counts(len(examples), {p: len(ex) for p, ex in replay.items()}, share)
    ids, n_prompt = list(examples.ids), list(examples.n_prompt)
    cut = [examples.cut] if examples.cut is not None else []
    for part, ex in replay.items():
        rows = replay_rows(part, len(ex), counts[part], seed)
        ids += [ex.ids[i] for i in rows]
        n_prompt += [ex.n_prompt[i] for i in rows]
        cut += [ex.cut[rows]] if ex.cut is not None else []
    cut = np.concatenate(cut) if len(cut) == 1 + len(replay) else None
    n_cut = int(cut.sum()) if cut is not None else examples.n_cut
    mixed = SFTExamples(ids, np.asarray(n_prompt, dtype=np.int64), n_cut, cut)
    mixed.replay = {"share": share, "main": len(examples), "parts": counts}
    return mixed


def load_replay(run, built, train_parts: list[str], shard_files) -> dict[str, SFTExamples]:
    """The replay parts of `run.data.replay`, each loaded like the training parts (checked: they
    exist and are neither trained on already nor the eval part)."""
    spec = run.data.replay
    for p in spec.parts:
        if p not in built.parts():
            raise FFDataError(f"data.replay.parts: set {built.name} has no part {p!r}")
        if p in train_parts or p == run.data.eval_part:
            role = "a training part" if p in train_parts else "the eval part"
            raise FFDataError(f"data.replay.parts: {p!r} is {role}")
    if len(set(spec.parts)) != len(spec.parts):
        raise FFDataError("data.replay.parts: a part is named twice")
    return {
        p: load_examples(run.stage, shard_files(built, [p], run.stage), run.data.seq_len)
        for p in spec.parts
    }


class TokenBlocks:
    """Fixed-length blocks from uint16 token shards, read through memory maps."""

    def __init__(self, paths: list[Path], seq_len: int):
        self.seq_len = seq_len
        self.maps = [np.memmap(p, dtype=np.uint16, mode="r") for p in paths]
        # block i lives in file file_of[i] at block offset i - first[file]
        counts = np.array([len(m) // seq_len for m in self.maps], dtype=np.int64)
        if counts.sum() == 0:
            raise FFDataError(
                f"token shards {[str(p) for p in paths]} hold no {seq_len}-token block"
            )
        self.first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.total = int(counts.sum())

    def __len__(self) -> int:
        return self.total

    def batch(self, indices) -> Batch:
        rows = []
        for i in indices:
            f = int(np.searchsorted(self.first, i, side="right") - 1)
            start = (int(i) - int(self.first[f])) * self.seq_len
            rows.append(np.asarray(self.maps[f][start : start + self.seq_len], dtype=np.int64))
        input_ids = torch.from_numpy(np.stack(rows))
        return Batch(input_ids, input_ids.clone())


def load_examples(stage: str, paths: list[Path], seq_len: int):
    if stage == "pretrain":
        # Token shards are raw uint16; Parquet files beside them (a document sidecar) are not.
        tokens = [p for p in paths if p.suffix != ".parquet"]
        if not tokens:
            raise FFDataError(f"pretrain needs uint16 token shards, found only {paths[:1]}")
        return TokenBlocks(tokens, seq_len)
    return load_sft(paths, seq_len)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def step_indices(order: np.ndarray, step_in_epoch: int, global_batch: int) -> np.ndarray:
    """The `global_batch` example indices of one optimizer step (wrapping at the epoch's end)."""
    positions = step_in_epoch * global_batch + np.arange(global_batch)
    return order[positions % len(order)]


def micro_batches(step_idx: np.ndarray, rank: int, world: int, micro: int) -> list[np.ndarray]:
    """This rank's share of a step, split into micro batches (accumulation order)."""
    share = np.array_split(step_idx, world)[rank]
    return [share[i : i + micro] for i in range(0, len(share), micro)]
