"""File locks that cannot outlive their holder.

An flock is released by the kernel once every process holding it is gone, so a killed build or
compile never blocks the next one (a lock *file* would stay behind).
"""

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold an exclusive flock on `path` (created with its folder). Yields whether another
    holder made it wait; `on_wait` runs once before waiting (to say so)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
            waited = True
        yield waited
