"""Time stamps and durations as users read them, shared by the runtime, the CLI and the operator."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def rfc3339(ts: float) -> str:
    """A UNIX timestamp as RFC 3339 (seconds, UTC, ``Z``), the form Kubernetes status fields use."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    """The current time as RFC 3339 (seconds, UTC, ``Z``)."""
    return rfc3339(time.time())


def parse_time(text: str | None) -> float | None:
    """UNIX seconds of an RFC 3339 timestamp (None when absent or malformed)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h02m``, ``65`` -> ``1m05s``, ``7`` -> ``7s``."""
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
