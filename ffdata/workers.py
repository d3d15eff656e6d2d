"""A builder's per-row work on several processes (`ffdata build --workers N`).

A builder cuts its input into chunks, in order, and hands each to a function whose answer
depends on the chunk alone (adapt, clean, tokenize: no dedup, caps or counts); `OrderedPool`
gives the answers back in input order, and the builder takes every decision that depends on
other rows (duplicates, quotas, what is kept or dropped, in which order) in the parent, from
those answers. So the set's bytes do not depend on the number of workers, and the worker
count is never part of a fingerprint.

N workers are N processes: this one and N - 1 forked after the builder has mapped the
decontamination index and loaded the tokenizer (so they share those pages and start in
milliseconds). This process reads the rows, hands chunks out, and does chunks itself whenever
the next answer due is not ready, including queued chunks no worker has started; it also
takes every cross-row decision and writes the shards. One worker (the default) is this
process alone.
"""

import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
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
    """Load what every process uses before the workers fork, so that they share it instead of
    each loading its own, and the parent's first chunks are no slower than the rest: the
    decontamination index (mapped) with its lazily built parts, and the tokenizer."""
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
    processes: this one and `workers - 1` forked ones. This process hands chunks to the forked
    ones (at most `ahead` each in flight, so the caller's state, a cap reached, still shapes the
    chunks it has not yet handed out) and, rather than wait for the next answer due, does the
    next chunk itself. So N workers are N busy processes (on 2 cores, 2 workers are 2
    processes, not a waiting reader and two workers fighting it for the cores). A worker's
    error is raised here in its chunk's turn; a worker that dies is an FFDataError; either
    way the pool is shut down."""

    def __init__(self, fn: Callable, workers: int = 1, ahead: int = 4):
        self.fn, self.ahead = fn, ahead
        if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
            print("ffdata: --workers needs fork (not on this system): one process", file=sys.stderr)
            workers = 1
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._abandoned = False  # a worker's chunk was also done here (see _steal)

    def __enter__(self) -> "OrderedPool":
        global _TASK
        if self.workers > 1:
            if _TASK is not None:
                raise FFDataError("builder error: one OrderedPool at a time in a process")
            _TASK = self.fn
            # Objects made before the fork stay out of the collector's passes from now on: a
            # pass writes to every object it visits, so each process would copy the pages
            # of the whole heap it shares with the other (copy-on-write).
            gc.freeze()
            ctx = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(self.workers - 1, mp_context=ctx)
            self._pool.submit(int)  # forks every worker now, before the caller starts threads
            _widen_answer_pipe(self._pool)
        return self

    def __exit__(self, *exc) -> None:
        global _TASK
        if self._pool is not None:
            # a worker still busy on a chunk also done here finishes it alone, unawaited
            self._pool.shutdown(wait=not self._abandoned, cancel_futures=True)
            self._pool, _TASK = None, None
            gc.unfreeze()

    def map(self, items: Iterable[tuple]) -> Iterator[tuple]:
        """(tag, work) pairs in, (tag, fn(work)) pairs out, in order: `tag` stays here (what
        the caller needs beside the answer), only `work` goes to a worker."""
        if self._pool is None:
            for tag, work in items:
                yield tag, self.fn(work)
            return
        forked = self.ahead * (self.workers - 1)  # chunks queued for the forked workers
        pending: deque[_Chunk] = deque()  # in input order
        items = iter(items)
        more = True
        while True:
            while more and sum(c.future is not None for c in pending) < forked:
                item = next(items, None)
                if item is None:
                    more = False
                else:
                    pending.append(_Chunk(*item, future=self._pool.submit(_run, item[1])))
            if not pending:
                return
            head = pending[0].future
            if head is not None and not head.done():
                # the next answer is not ready: work here meanwhile, on a new chunk, else on
                # the last queued one no worker has started (so none waits on a backlog)
                if more and len(pending) < 2 * forked:
                    item = next(items, None)
                    if item is None:
                        more = False
                    else:
                        pending.append(_Chunk(*item, answer=self._here(item[1])))
                    continue
                if self._steal(pending, duplicate=not more):
                    continue
            chunk = pending.popleft()
            answer = chunk.answer if chunk.future is None else self._result(chunk.future)
            if isinstance(answer, _Failed):
                raise answer.error
            yield chunk.tag, answer

    def _steal(self, pending: deque, duplicate: bool) -> bool:
        """Do here the last chunk queued for a worker that none has started. `duplicate` (all
        input read, so nothing else is left to do here): failing that, the last one a worker
        holds but that is not the next due, whose worker's answer is then not waited for (the
        executor keeps a call or two queued in each worker, which cannot be taken back)."""
        queued = [c for c in pending if c.future is not None]
        taken = next((c for c in reversed(queued) if c.future.cancel()), None)
        if taken is None and duplicate:  # cancel() is False once a worker has the chunk
            held = [c for c in queued if c is not pending[0] and not c.future.done()]
            taken = held[-1] if held else None
            self._abandoned |= taken is not None
        if taken is None:
            return False
        taken.future, taken.answer = None, self._here(taken.work)
        return True

    def _here(self, work):
        """fn(work) in this process; an error is kept for the chunk's turn, as a worker's is."""
        try:
            return self.fn(work)
        except Exception as e:
            return _Failed(e)

    @staticmethod
    def _result(future):
        try:
            return future.result()
        except BrokenProcessPool as e:
            raise FFDataError(
                f"a build worker process died ({e}); rerun with --workers 1 to see its error"
            ) from None


def _widen_answer_pipe(pool: ProcessPoolExecutor) -> None:
    """Answers (~0.5 MB a chunk) come back through one pipe of 64 KiB, read here by the pool's
    thread, which waits for the GIL while this process works: a worker sat blocked on its
    write for a few ms a chunk. At 1 MiB (Linux's default maximum) it writes and goes on."""
    try:
        import fcntl  # not on Windows

        fcntl.fcntl(pool._result_queue._writer.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError, ValueError):  # not Linux, or a limit: slower
        pass


@dataclass
class _Chunk:
    """A chunk in flight: its answer is `future`'s (a worker's), or `answer` (done here)."""

    tag: object
    work: object
    future: Future | None = None
    answer: object = None


@dataclass
class _Failed:
    error: Exception


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
