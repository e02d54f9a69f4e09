"""A background thread that works through a queue in order: started when first needed, restarted if it
died, stopped by a ``None`` item. The operator's Event poster and the checkpoint mirror's uploader are
such threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def ensure_running(
    thread: threading.Thread | None, target: Callable[[], None], name: str
) -> threading.Thread:
    """``thread`` when it is alive, else a new daemon thread running ``target``, started."""
    if thread is not None and thread.is_alive():
        return thread
    started = threading.Thread(target=target, name=name, daemon=True)
    started.start()
    return started


def serve_queue(items: queue.Queue[T | None], handle: Callable[[T], None]) -> None:
    """Run ``handle`` on each item of ``items`` in order until a ``None`` arrives, marking each one done
    (so that ``items.join()`` waits for the work, not only for the queue to empty)."""
    while True:
        item = items.get()
        try:
            if item is None:
                return
            handle(item)
        finally:
            items.task_done()
