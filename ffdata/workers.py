"""A builder's per-row work on several processes (`ffdata build --workers N`).

A builder cuts its input into chunks, in order, and hands each to a function whose answer
depends on the chunk alone (adapt, clean, tokenize: no dedup, caps or counts); `OrderedPool`
gives the answers back in input order, and the builder takes every decision that depends on
other rows (duplicates, quotas, what is kept or dropped, in which order) in the parent, from
those answers. So the set's bytes do not depend on the number of workers, and the worker
count is never part of a fingerprint.

N workers are N processes: this one and N - 1 forked after the builder has mapped the
decontamination index and loaded the tokenizer (so they share those pages and start in
milliseconds). This process reads the rows and writes each chunk straight into a worker's
task pipe (no pool thread in between to wait for), and does chunks itself whenever the next
answer due is not ready, including chunks handed out that no worker has started; it also
takes every cross-row decision and writes the shards. One worker (the default) is this
process alone.
"""

import gc
import mmap
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
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


class RemoteTraceback(Exception):
    """A worker's traceback, kept as the cause of the error it raised there."""

    def __str__(self) -> str:
        return self.args[0]


class OrderedPool:
    """`map(chunks)` applies `fn` to each chunk and yields the answers in order, on `workers`
    processes: this one and `workers - 1` forked ones. This process keeps each forked one
    `ahead` chunks deep (so the caller's state, a cap reached, still shapes the chunks not yet
    handed out) and, rather than wait for the next answer due, does a new chunk itself, or takes
    back one queued for a worker that has not started it. So N workers are N busy processes (on
    2 cores, 2 workers are 2 processes, not a waiting reader and two workers fighting it for
    the cores). A worker's error is raised here in its chunk's turn, with the worker's
    traceback as its cause; a worker that dies is an FFDataError; either way the pool stops."""

    def __init__(self, fn: Callable, workers: int = 1, ahead: int = 3):
        self.fn, self.ahead = fn, ahead
        if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
            print("ffdata: --workers needs fork (not on this system): one process", file=sys.stderr)
            workers = 1
        self.workers = workers
        self._forked: list[_Worker] = []
        self._wake = threading.Condition()  # an answer came in, or a worker ended
        self._seq = 0

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
            # who does a handed-out chunk: a byte per chunk number (modulo), shared, so that a
            # chunk is done by its worker or taken back here, never both
            self._claims = mmap.mmap(-1, SLOTS)
            self._lock = ctx.Lock()
            for _ in range(self.workers - 1):  # every fork before the first thread starts
                self._forked.append(_Worker(ctx, self._claims, self._lock, self._forked))
            for worker in self._forked:
                worker.listen(self._wake)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        global _TASK
        if self._forked:
            for worker in self._forked:
                worker.tasks.close()  # it ends after the chunk it is on
                if exc_type is not None:
                    worker.process.kill()  # a failed build stops its workers now
            self._forked, _TASK = [], None
            gc.unfreeze()

    def map(self, items: Iterable[tuple]) -> Iterator[tuple]:
        """(tag, work) pairs in, (tag, fn(work)) pairs out, in order: `tag` stays here (what
        the caller needs beside the answer), only `work` goes to a worker."""
        if not self._forked:
            for tag, work in items:
                yield tag, self.fn(work)
            return
        pending: deque[_Chunk] = deque()  # in input order
        handed: dict[int, _Chunk] = {}  # chunk number -> chunk a worker has not answered yet
        most = 2 * self.ahead * len(self._forked)  # chunks read and not yet answered
        items = iter(items)
        more = True
        while True:
            self._collect(handed)
            while more:  # every worker `ahead` chunks deep
                worker = min(self._forked, key=lambda w: w.in_flight)
                if worker.in_flight >= self.ahead:
                    break
                item = next(items, None)
                if item is None:
                    more = False
                else:
                    pending.append(self._hand(worker, *item, handed))
            if not pending:
                return
            head = pending[0]
            if not head.ready:
                # the next answer is not ready: work here meanwhile, on a new chunk, else on
                # the last one handed out that no worker has started (so none waits on a backlog)
                if more and len(pending) < most:
                    item = next(items, None)
                    if item is None:
                        more = False
                    else:
                        pending.append(_Chunk(*item, answer=self._here(item[1]), ready=True))
                    continue
                if not self._take_back(pending, handed):
                    self._wait()
                continue
            pending.popleft()
            if isinstance(head.answer, _Failed):
                raise head.answer.error
            yield head.tag, head.answer

    def _hand(self, worker: "_Worker", tag, work, handed: dict) -> "_Chunk":
        seq, self._seq = self._seq, self._seq + 1
        self._claims[seq % SLOTS] = QUEUED
        chunk = _Chunk(tag, work, seq=seq, worker=worker)
        try:
            worker.tasks.send_bytes(pickle.dumps((seq, work), protocol=5))
        except OSError:  # its end of the pipe is closed: it died
            raise _died(worker) from None
        worker.in_flight += 1
        handed[seq] = chunk
        return chunk

    def _take_back(self, pending: deque, handed: dict) -> bool:
        """Do here the last chunk handed to a worker that has not started it."""
        for chunk in reversed(pending):
            if chunk.ready:
                continue
            claimed = _claim(self._claims, self._lock, chunk.seq, TAKEN_HERE)
            if claimed is None:
                raise FFDataError(
                    f"a build worker held the chunk lock for {LOCK_WAIT_S:g} s (killed while "
                    "holding it?); rerun the build"
                )
            if not claimed:
                continue
            del handed[chunk.seq]
            chunk.worker.in_flight -= 1
            chunk.answer, chunk.ready = self._here(chunk.work), True
            return True
        return False

    def _here(self, work):
        """fn(work) in this process; an error is kept for the chunk's turn, as a worker's is."""
        try:
            return self.fn(work)
        except Exception as e:
            return _Failed(e)

    def _collect(self, handed: dict) -> None:
        """Give the answers that came in to their chunks; a worker that ended is an error."""
        with self._wake:
            inboxes = [(w, list(w.inbox)) for w in self._forked]
            for w in self._forked:
                w.inbox.clear()
            dead = [w for w in self._forked if w.ended]
        for worker, answers in inboxes:
            for data in answers:
                seq, answer, failed = pickle.loads(data)
                chunk = handed.pop(seq)
                worker.in_flight -= 1
                if failed:
                    error, trace = failed
                    error.__cause__ = RemoteTraceback(f'\n"""\n{trace}"""')
                    answer = _Failed(error)
                chunk.answer, chunk.ready = answer, True
        if dead:
            raise _died(dead[0])

    def _wait(self) -> None:
        with self._wake:
            if not any(w.inbox or w.ended for w in self._forked):
                self._wake.wait(1.0)


QUEUED, TAKEN_BY_WORKER, TAKEN_HERE = 0, 1, 2
LOCK_WAIT_S = 30.0
SLOTS = 1 << 16  # claim bytes, by chunk number modulo: far more than are ever handed out at once


def _claim(claims: mmap.mmap, lock, seq: int, who: int) -> bool | None:
    """Chunk `seq` for `who` (a worker, or the parent taking it back) if nobody has it yet;
    None if the lock stays held for LOCK_WAIT_S (it is held for microseconds: a process killed
    while holding it would leave it held forever)."""
    if not lock.acquire(timeout=LOCK_WAIT_S):
        return None
    try:
        if claims[seq % SLOTS] != QUEUED:
            return False
        claims[seq % SLOTS] = who
        return True
    finally:
        lock.release()


def _died(worker: "_Worker") -> FFDataError:
    worker.process.join(5)  # joined by its reader thread, which may not have got there yet
    return FFDataError(
        f"a build worker process died (exit code {worker.process.exitcode}); "
        "rerun with --workers 1 to see its error"
    )


class _Worker:
    """A forked process that does the chunks written to its task pipe and writes each answer
    to its answer pipe, and the thread here that reads those answers as they come (so a worker
    never waits for this process to read, and this process may wait to write)."""

    def __init__(self, ctx, claims: mmap.mmap, lock, others: list["_Worker"]):
        task_end, self.tasks = ctx.Pipe(duplex=False)
        self.answers, answer_end = ctx.Pipe(duplex=False)
        for conn in (self.tasks, self.answers):
            _widen(conn)
        ours = [c for w in [*others, self] for c in (w.tasks, w.answers)]  # not the child's
        self.process = ctx.Process(
            target=_serve, args=(task_end, answer_end, claims, lock, ours), daemon=True
        )
        self.process.start()
        task_end.close()
        answer_end.close()
        self.inbox: deque[bytes] = deque()
        self.in_flight = 0  # chunks handed to it and not answered or taken back
        self.ended = False

    def listen(self, wake: threading.Condition) -> None:
        threading.Thread(target=self._read, args=(wake,), daemon=True).start()

    def _read(self, wake: threading.Condition) -> None:
        while True:
            try:
                data = self.answers.recv_bytes()
            except (EOFError, OSError):  # it ended: after the pool closed its tasks, or died
                break
            with wake:
                self.inbox.append(data)
                wake.notify()
        self.answers.close()
        self.process.join()  # its exit code, and no zombie left behind
        with wake:
            self.ended = True
            wake.notify()


def _serve(tasks, answers, claims: mmap.mmap, lock, parent_ends: list) -> None:
    """A worker's loop: read a chunk, do it unless it was taken back, send the answer."""
    for conn in parent_ends:  # inherited: held open here, a pipe would never see its end
        conn.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    while True:
        try:
            seq, work = pickle.loads(tasks.recv_bytes())
        except EOFError:
            return
        mine = _claim(claims, lock, seq, TAKEN_BY_WORKER)
        if mine is None:  # the parent died holding the lock: end
            return
        if mine:
            answers.send_bytes(_answer(seq, work))


def _answer(seq: int, work) -> bytes:
    try:
        return pickle.dumps((seq, _TASK(work), None), protocol=5)
    except Exception as e:
        trace = "".join(traceback.format_exception(e))  # a pickled error keeps only its args
        return pickle.dumps((seq, None, (_portable(e), trace)), protocol=5)


def _portable(error: Exception) -> Exception:
    """The error as it can travel to the parent."""
    if isinstance(error, FFDataError):  # subclasses may not unpickle (MalformedRow): the line
        error = FFDataError(str(error))
    else:
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:
            error = RuntimeError(f"{type(error).__name__}: {error}")
    return error


def _widen(conn) -> None:
    """Answers (~0.5 MB a chunk) and tasks go through pipes of 64 KiB: a writer would wait
    for the reader a few times a chunk. At 1 MiB (Linux's default maximum) it writes and goes
    on."""
    try:
        import fcntl  # not on Windows

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError, ValueError):  # not Linux, or a limit: slower
        pass


@dataclass
class _Chunk:
    """A chunk read: done here (`answer` at once), or handed to `worker` as number `seq`."""

    tag: object
    work: object
    seq: int = -1
    worker: "_Worker | None" = None
    answer: object = None
    ready: bool = False


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


def replayed(
    ctx, source: str, chunk: list, results: list, drop: Callable | None = None
) -> Iterator[tuple[int, object]]:
    """(idx, result) of each row of a chunk that reaches the builder, in order, with a read
    error raised and a quarantined row dropped in its place (`drop(idx, reason, detail)`,
    default ctx.drop of the source), as a process reading row by row would. `result` is None
    for a row no worker prepared."""
    for (idx, row), result in zip_longest(chunk, results):
        if idx is None:
            raise row
        if isinstance(row, Quarantined):  # hostile text, oversized, too deep (sources.screen)
            (drop or partial(ctx.drop, source))(idx, row.reason, row.detail)
            continue
        yield idx, result
