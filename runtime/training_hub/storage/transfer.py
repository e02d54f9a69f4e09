"""Progress of a transfer (staging, upload, restore): a line at most every few seconds, and one at the end."""

from __future__ import annotations

import time
from collections.abc import Callable


def human_size(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


class Progress:
    """Logs a transfer's progress at most every ``interval`` seconds (and once at the end)."""

    def __init__(self, what: str, total: int, say: Callable[[str], None], interval: float = 5.0) -> None:
        self.what, self.total, self.say, self.interval = what, total, say, interval
        self.done = 0
        self.started = self.last = time.monotonic()

    def add(self, n: int) -> None:
        """Count ``n`` more bytes (and log when the interval passed)."""
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.report()

    def report(self, final: bool = False) -> None:
        """Log the bytes so far, the share of the total and the rate."""
        pct = f" ({100 * self.done // self.total}%)" if self.total else ""
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        verb = "done" if final else "so far"
        self.say(
            f"{self.what}: {human_size(self.done)} of {human_size(self.total)}{pct} {verb}, "
            f"{human_size(rate)}/s"
        )
