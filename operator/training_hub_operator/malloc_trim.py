"""Hand the C heap's free memory back to the system now and then (glibc's ``malloc_trim``).

Measured (``python -m benchmarks.operator_throughput --probe``, N=2000 at 10 creates/s, see
docs/benchmarks.md): of the operator's RSS growth, ~13 MiB was memory glibc's malloc held **free**, not
in use: the transient peaks (API responses read whole, a page of the resync's LIST, a burst of 16
reconciles in parallel) are freed into holes below live blocks, and glibc gives back only the top of a
heap (``M_TRIM_THRESHOLD``) and blocks it ``mmap``-ed on their own; ``malloc_trim(0)`` gave back 11.6 of
those 13 MiB at once (it ``madvise``-s the free pages inside every arena too). So the operator calls it
every :data:`PERIOD_SECONDS` from a daemon thread: 0.3 ms per call measured at 2000 runs (the heap is
tens of MiB), no effect on what is in use; what the heap holds free between two calls is what ten
seconds of work freed. Where the C library is not glibc (``malloc_trim`` absent) nothing runs.
Python's own small-object allocator (pymalloc) is not concerned: it returns an arena when it is empty.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Any

log = logging.getLogger("training_hub_operator")

#: Seconds between two trims.
PERIOD_SECONDS = 10.0


def _malloc_trim() -> Any | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def trim() -> bool:
    """Give the free memory of every malloc arena back to the system; False where there is no
    ``malloc_trim`` (not glibc)."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


def start(stop: threading.Event, period: float = PERIOD_SECONDS) -> threading.Thread | None:
    """Trim every ``period`` seconds in a daemon thread until ``stop`` is set (None without glibc)."""
    fn = _malloc_trim()
    if fn is None:
        log.debug("no malloc_trim in this C library: the heap is not trimmed")
        return None

    def loop() -> None:
        while not stop.wait(period):
            fn(0)

    thread = threading.Thread(target=loop, name="malloc-trim", daemon=True)
    thread.start()
    return thread
