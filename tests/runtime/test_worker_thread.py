"""The queue-serving background thread shared by the Event poster and the checkpoint mirror."""

from __future__ import annotations

import queue
import threading

import pytest

from training_hub.worker_thread import ensure_running, serve_queue

pytestmark = pytest.mark.unit


def test_items_are_handled_in_order_and_join_waits_for_the_work() -> None:
    items: queue.Queue[int | None] = queue.Queue()
    seen: list[int] = []
    release = threading.Event()

    def handle(item: int) -> None:
        release.wait(5)
        seen.append(item)

    thread = ensure_running(None, lambda: serve_queue(items, handle), "test-worker")
    assert ensure_running(thread, lambda: None, "other") is thread  # alive: kept
    for item in (3, 1, 2):
        items.put(item)
    assert seen == []
    release.set()
    items.join()  # returns once each item was handled, not when the queue emptied
    assert seen == [3, 1, 2]
    items.put(None)
    thread.join(5)
    assert not thread.is_alive()
    assert ensure_running(thread, lambda: None, "again") is not thread  # dead: replaced
