"""A builder's per-row work on several processes (`ffdata build --workers N`).

A builder cuts its input into chunks, in order, and hands each to a function whose answer
depends on the chunk alone (adapt, clean, tokenize: no dedup, caps or counts); `OrderedPool`
gives the answers back in input order, and the builder takes every decision that depends on
other rows (duplicates, quotas, what is kept or dropped, in which order) in the parent, from
those answers. So the set's bytes do not depend on the number of workers, and the worker
count is never part of a fingerprint.

Workers are forked after the builder has set itself up (the decontamination index mapped, the
tokenizer loaded), so they start in milliseconds and share those pages. One worker (the
default) runs the same function in this process.
"""

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import zip_longest

from ffdata.errors import FFDataError
from ffdata.sources import Quarantined

_TASK: Callable | None = None  # what the forked workers run: set before the fork, inherited


def worker_count() -> int:
    """Processes a build may use: FFDATA_WORKERS (set by `ffdata build --workers N`), else 1."""
    value = os.environ.get("FFDATA_WORKERS", "").strip()
    if not value:
        return 1
    try:
        n = int(value)
    except ValueError:
        raise FFDataError(f"FFDATA_WORKERS must be a whole number, not {value!r}") from None
    if n < 1:
        raise FFDataError(f"FFDATA_WORKERS must be at least 1, not {n}")
    return n


def warm(ctx) -> None:
    """Load what every worker uses before they fork, so that they share it instead of each
    loading its own: the decontamination index (mapped) with its lazily built parts, and the
    tokenizer."""
    from ffdata.tokenizer import tiktoken_encoding

    if ctx.decontaminator is not None:
        ctx.decontaminator.check_batch(["warm"])
    tiktoken_encoding()


def _run(chunk):
    try:
        return _TASK(chunk)
    except FFDataError as e:  # subclasses may not unpickle (MalformedRow): send the line
        raise FFDataError(str(e)) from None


class OrderedPool:
    """`map(chunks)` applies `fn` to each chunk and yields the answers in order, on `workers`
    processes; at most `ahead` chunks per worker are in flight, so the caller's state (a cap
    reached) still shapes the chunks it has not yet handed out. A worker's error is raised
    here; a worker that dies is an FFDataError; either way the pool is shut down."""

    def __init__(self, fn: Callable, workers: int = 1, ahead: int = 2):
        self.fn, self.ahead = fn, ahead
        if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
            print("ffdata: --workers needs fork (not on this system): one process", file=sys.stderr)
            workers = 1
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "OrderedPool":
        global _TASK
        if self.workers > 1:
            if _TASK is not None:
                raise FFDataError("builder error: one OrderedPool at a time in a process")
            _TASK = self.fn
            ctx = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
            self._pool.submit(int)  # forks every worker now, before the caller starts threads
        return self

    def __exit__(self, *exc) -> None:
        global _TASK
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, _TASK = None, None

    def map(self, items: Iterable[tuple]) -> Iterator[tuple]:
        """(tag, work) pairs in, (tag, fn(work)) pairs out, in order: `tag` stays here (what
        the caller needs beside the answer), only `work` goes to a worker."""
        if self._pool is None:
            for tag, work in items:
                yield tag, self.fn(work)
            return
        pending: deque = deque()
        items = iter(items)
        while True:
            while len(pending) < self.ahead * self.workers:
                item = next(items, None)
                if item is None:
                    break
                pending.append((item[0], self._pool.submit(_run, item[1])))
            if not pending:
                return
            tag, future = pending.popleft()
            try:
                result = future.result()
            except BrokenProcessPool as e:
                raise FFDataError(
                    f"a build worker process died ({e}); rerun with --workers 1 to see its error"
                ) from None
            yield tag, result


def read_chunks(rows: Iterable[tuple[int, object]], size: int, skip: Callable[[], bool]):
    """A source's rows (BuildContext.read_source(..., yield_quarantined=True)) in chunks of
    `size`: (chunk, work) pairs, `chunk` the rows as read, `work` the same (idx, row) pairs
    with None for a row no worker needs: a quarantined one, or one read while `skip()` (its
    cap is surely reached). A read error ends the stream as the chunk's last entry
    (None, error), which `replayed` raises after the rows before it."""
    rows = iter(rows)
    while True:
        chunk, work = [], []
        try:
            for idx, row in rows:
                chunk.append((idx, row))
                work.append((idx, None if isinstance(row, Quarantined) or skip() else row))
                if len(chunk) >= size:
                    break
        except FFDataError as e:
            chunk.append((None, e))
        if not chunk:
            return
        yield chunk, work
        if chunk[-1][0] is None or len(chunk) < size:
            return


def replayed(ctx, source: str, chunk: list, results: list) -> Iterator[tuple[int, object]]:
    """(idx, result) of each row of a chunk that reaches the builder, in order, with a read
    error raised and a quarantined row dropped in its place, as a process reading row by row
    would. `result` is None for a row no worker prepared."""
    for (idx, row), result in zip_longest(chunk, results):
        if idx is None:
            raise row
        if isinstance(row, Quarantined):  # hostile text, oversized, too deep (sources.screen)
            ctx.drop(source, idx, row.reason, row.detail)
            continue
        yield idx, result
