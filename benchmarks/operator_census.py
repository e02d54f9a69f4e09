"""The operator's memory, from the benchmark's side: censuses (and tracemalloc snapshots) that
:mod:`benchmarks.operator_probe` writes when signalled (:class:`Probe`), and the figures of a census that
say where RSS goes (:func:`census_summary`)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any


class Probe:
    """Censuses (and, traced, tracemalloc snapshots) of the operator (:mod:`benchmarks.operator_probe`),
    taken on request."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[tuple[str, Path]] = []
        self.snapshots: list[tuple[str, Path]] = []

    def take(self, pid: int, label: str, timeout: float = 120.0, *, trim: bool = False) -> None:
        """Signal the operator and wait for its census (``trim``: then ``malloc_trim``, :data:`SIGUSR2`)."""
        from benchmarks.operator_probe import census_path, snapshot_path

        index = len(self.taken)
        path = census_path(self.directory, index)
        os.kill(pid, signal.SIGUSR2 if trim else signal.SIGUSR1)
        deadline = time.time() + timeout
        while not path.exists() and time.time() < deadline:
            time.sleep(0.2)
        if path.exists():
            self.taken.append((label, path))
            if snapshot_path(self.directory, index).exists():
                self.snapshots.append((label, snapshot_path(self.directory, index)))

    def census(self) -> list[dict[str, Any]]:
        """Each census, summarised (:func:`census_summary`), in the order taken."""
        return [{"label": label, **census_summary(json.loads(p.read_text()))} for label, p in self.taken]

    def report(self) -> dict[str, Any]:
        """The tracemalloc part: traced MiB at each point and what grew between the first and the last."""
        from benchmarks.operator_probe import top_growth, traced_total

        if len(self.snapshots) < 2:
            return {}
        (n0, first), (n1, last) = self.snapshots[0], self.snapshots[-1]
        return {
            "traced_mib": {label: traced_total(p) / 2**20 for label, p in self.snapshots},
            "growth_sites": top_growth(first, last),
            "growth_files": top_growth(first, last, key="filename"),
            "between": [n0, n1],
        }


def census_summary(facts: dict[str, Any]) -> dict[str, Any]:
    """The figures of one census (:func:`benchmarks.memory_census.census`) that say where RSS goes, in MiB:
    resident by mapping kind, glibc's arenas (in use, free), pymalloc's arenas and blocks in use, the
    operator's per-object structures, the tracked objects by type, and what ``malloc_trim`` gave back."""
    mib = 2**20
    malloc, pymalloc, op = facts.get("malloc") or {}, facts.get("pymalloc") or {}, facts.get("operator") or {}
    out: dict[str, Any] = {
        "rss": facts["rss"] / mib,
        "rss_by_mapping": {k: v / mib for k, v in (facts.get("rss_by_mapping") or {}).items()},
        "malloc_arenas": malloc.get("arena", 0) / mib,
        "malloc_in_use": malloc.get("uordblks", 0) / mib,
        "malloc_free": malloc.get("fordblks", 0) / mib,
        "malloc_mmapped": malloc.get("hblkhd", 0) / mib,
        "pymalloc_arenas": pymalloc.get("total", 0) / mib,
        # Arenas are 1 MiB (Python 3.10+, 64-bit): the most pymalloc ever held at once, in MiB.
        "pymalloc_peak": pymalloc.get("arenas_highwater", 0)
        * pymalloc.get("total", 0)
        / max(pymalloc.get("arenas", 0), 1)
        / mib,
        "pymalloc_in_use": pymalloc.get("allocated_blocks", 0) / mib,
        "tracked_objects": (facts.get("objects") or {}).get("tracked"),
        "objects_by_type": (facts.get("objects") or {}).get("by_type") or {},
        "runner": {
            k: {"count": v["count"], "mib": None if v["bytes"] is None else v["bytes"] / mib}
            for k, v in (op.get("runner") or {}).items()
        },
        "kopf_memories": [
            {"count": m["count"], "mib": m["bytes"] / mib} for m in op.get("kopf_memories") or []
        ],
        "events_queued": op.get("events_queued"),
        "threads": op.get("threads"),
        "asyncio_tasks": op.get("asyncio_tasks"),
    }
    if "traced" in facts:
        out["traced"] = facts["traced"] / mib
    if facts.get("trim"):
        trim = facts["trim"]
        out["trim"] = {"rss_before": trim["rss_before"] / mib, "rss_after": trim["rss_after"] / mib}
        out["trim"]["ms"] = trim.get("microseconds", 0) / 1000
    return out
