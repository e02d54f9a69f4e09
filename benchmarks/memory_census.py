"""What a process's memory consists of, seen from inside it (benchmark only): the RSS beyond the Python heap.

tracemalloc sees the Python objects only; the resident set also holds memory that malloc keeps after
``free()`` (glibc returns the top of its heaps and large blocks, not holes), pymalloc's partly used arenas,
thread stacks, and the libraries' own buffers. :func:`census` reads, for the process that calls it:

- ``/proc/self/smaps_rollup`` (``Rss``, ``Anonymous``...) and ``/proc/self/smaps`` summed by mapping kind
  (``[heap]``: glibc's main arena; ``anon``: its other arenas, pymalloc's 256 KiB arenas, large blocks,
  thread stacks; ``file``: code and data of the interpreter and the libraries);
- glibc's ``mallinfo2()`` summed over its arenas: ``arena`` (bytes the arenas took from the system),
  ``uordblks`` (in use), ``fordblks`` (free but kept), ``hblkhd`` (in blocks of their own, ``mmap``);
- pymalloc's own figures (``sys._debugmallocstats``: arenas, blocks in use, free pools);
- the objects the garbage collector tracks, counted by type (the most numerous first);
- optionally, how much RSS ``malloc_trim(0)`` gives back: what malloc held free but resident.

Every figure is in bytes (or a count). On a system without glibc the malloc figures are absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

#: ``sys._debugmallocstats`` lines kept (label as printed -> key).
PYMALLOC_FIELDS = {
    "# arenas allocated current": "arenas",
    "# arenas highwater mark": "arenas_highwater",
    "# bytes in allocated blocks": "allocated_blocks",
    "# bytes in available blocks": "available_blocks",
    "Total": "total",
}
_PYMALLOC_LINE = re.compile(r"^(?P<label>.*?)\s*=\s*(?P<value>[\d,]+)\s*$")
_UNUSED_POOLS = re.compile(r"^(?P<n>\d+) unused pools \* (?P<size>\d+) bytes")


#: The fields of glibc's ``struct mallinfo2`` (glibc >= 2.33), each a ``size_t``.
MALLINFO2_FIELDS = (
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``."""

    _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2_FIELDS]


def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):  # not glibc, or glibc < 2.33
        return None
    return libc


def rss_bytes() -> int:
    """Resident set size of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def smaps_rollup(text: str | None = None) -> dict[str, int]:
    """The ``kB`` fields of ``/proc/self/smaps_rollup`` (or of ``text``), in bytes."""
    if text is None:
        try:
            text = Path("/proc/self/smaps_rollup").read_text()
        except OSError:
            return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return out


def rss_by_mapping(text: str | None = None) -> dict[str, int]:
    """Resident bytes of ``/proc/self/smaps`` (or of ``text``) by mapping kind: ``heap`` (``[heap]``),
    ``stack`` (``[stack]``), ``anon`` (no name), ``file`` (a path) and ``other`` (``[vdso]``...)."""
    if text is None:
        try:
            text = Path("/proc/self/smaps").read_text()
        except OSError:
            return {}
    out = dict.fromkeys(("heap", "anon", "file", "stack", "other"), 0)
    kind = "other"
    for line in text.splitlines():
        head = line.split(None, 6)
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = head[5].strip() if len(head) > 5 else ""
            kind = (
                "anon"
                if not name
                else "heap"
                if name == "[heap]"
                else "stack"
                if name.startswith("[stack")
                else "file"
                if name.startswith("/")
                else "other"
            )
        elif head and head[0] == "Rss:":
            out[kind] += int(head[1]) * 1024
    return out


def malloc_totals() -> dict[str, int]:
    """glibc's ``mallinfo2()`` (summed over every arena); empty without glibc >= 2.33."""
    libc = _libc()
    if libc is None:
        return {}
    info = libc.mallinfo2()
    return {name: int(getattr(info, name)) for name in MALLINFO2_FIELDS}


def parse_pymalloc_stats(text: str) -> dict[str, int]:
    """The figures of :data:`PYMALLOC_FIELDS` and ``unused_pools`` (bytes) from ``sys._debugmallocstats``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        pools = _UNUSED_POOLS.match(line)
        if pools:
            out["unused_pools"] = int(pools["n"]) * int(pools["size"])
            continue
        match = _PYMALLOC_LINE.match(line)
        if match and match["label"] in PYMALLOC_FIELDS:  # the first "Total": the arenas' (then the map's)
            out.setdefault(PYMALLOC_FIELDS[match["label"]], int(match["value"].replace(",", "")))
    return out


def pymalloc_stats() -> dict[str, int]:
    """pymalloc's arenas and blocks (``sys._debugmallocstats`` writes to file descriptor 2: caught in a
    temporary file meanwhile; any other line written there then is passed on to the real stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    stats = parse_pymalloc_stats(text)
    others = [ln for ln in text.splitlines() if ln.startswith("{") or "Traceback" in ln]
    if others:
        sys.stderr.write("\n".join(others) + "\n")
    return stats


def object_counts(limit: int = 25) -> dict[str, Any]:
    """The objects the garbage collector tracks: how many, and the ``limit`` most numerous types."""
    counts: Counter[str] = Counter()
    total = 0
    for obj in gc.get_objects():
        counts[f"{type(obj).__module__}.{type(obj).__qualname__}"] += 1
        total += 1
    return {"tracked": total, "by_type": dict(counts.most_common(limit))}


def trim() -> dict[str, int]:
    """RSS before and after ``malloc_trim(0)``: how much free memory malloc held resident, and how long the
    call took (empty without glibc)."""
    libc = _libc()
    if libc is None:
        return {}
    before, started = rss_bytes(), time.perf_counter()
    libc.malloc_trim(0)
    return {
        "rss_before": before,
        "rss_after": rss_bytes(),
        "microseconds": int(1e6 * (time.perf_counter() - started)),
    }


def census(
    *, objects: bool = True, trimmed: bool = False, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything above for this process (``objects``: count the tracked objects, ~1 s per million;
    ``trimmed``: then ``malloc_trim(0)`` and say what it gave back; ``extra``: added as is)."""
    out: dict[str, Any] = {
        "rss": rss_bytes(),
        "smaps_rollup": smaps_rollup(),
        "rss_by_mapping": rss_by_mapping(),
        "malloc": malloc_totals(),
        "pymalloc": pymalloc_stats(),
    }
    if objects:
        out["objects"] = object_counts()
    if extra:
        out.update(extra)
    if trimmed:
        out["trim"] = trim()
    return out
