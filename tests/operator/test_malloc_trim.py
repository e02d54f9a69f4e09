"""The periodic malloc_trim gives glibc's free heap back to the system (against this machine's glibc)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from training_hub_operator import malloc_trim

pytestmark = pytest.mark.unit

MIB = 2**20


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _fragment() -> list[bytes]:
    """~30 MiB freed into holes of the heap below blocks still in use: glibc keeps them resident."""
    blocks = [bytes(60 * 1024) for _ in range(512)]  # below the mmap threshold: from the heap
    kept = blocks[::16]
    del blocks
    return kept


@pytest.fixture(autouse=True)
def _glibc() -> None:
    if malloc_trim._malloc_trim() is None:
        pytest.fail("these tests need glibc (malloc_trim); the operator image and CI have it")


def test_trim_gives_back_the_free_heap() -> None:
    malloc_trim.trim()
    kept = _fragment()
    before = _rss()
    assert malloc_trim.trim() is True
    assert before - _rss() > 10 * MIB
    del kept


def test_the_thread_trims_every_period_until_stopped() -> None:
    malloc_trim.trim()
    stop = threading.Event()
    kept = _fragment()
    before = _rss()
    thread = malloc_trim.start(stop, period=0.05)
    assert thread is not None and thread.daemon
    try:
        deadline = time.monotonic() + 5
        while before - _rss() <= 10 * MIB and time.monotonic() < deadline:
            time.sleep(0.05)
        assert before - _rss() > 10 * MIB
    finally:
        stop.set()
        thread.join(timeout=2)
    assert not thread.is_alive()
    del kept
