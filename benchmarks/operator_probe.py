"""The operator under a memory probe (benchmark only): where its memory per run goes.

``python -m benchmarks.operator_probe ARGS`` runs ``training_hub_operator.main`` with ``ARGS``. Each
``SIGUSR1`` writes ``$TRAINING_HUB_PROBE_DIR/census-<k>.json`` (k = 0, 1, ...): the process's memory by
kind (:func:`benchmarks.memory_census.census`: mappings, malloc, pymalloc) and the counts of the operator's
own per-run maps (light: nothing is walked, so the census itself adds next to nothing to the RSS that
follows); ``SIGUSR2`` writes a full one (also the objects by type and the deep size of the runner's maps
and of kopf's per-object memories, :func:`operator_structures`) and then calls ``malloc_trim(0)`` (the
census says how much RSS that gave back: free heap that glibc kept); with ``$TRAINING_HUB_PROBE_TRACEMALLOC=1`` tracemalloc runs too and
each signal also writes ``snapshot-<k>.pickle``. ``SIGUSR2`` does the same and then calls
``malloc_trim(0)`` (the census says how much RSS that gave back: free heap that glibc kept). Files are
written to a temporary name, then renamed, so a reader never sees half a file.
``benchmarks/operator_throughput.py --probe`` (``--tracemalloc``: with tracemalloc), through
:class:`benchmarks.operator_census.Probe`, sends the signals at
0, 1000, 5000 and 10,000 launched runs and at the end, and diffs the snapshots (:func:`top_growth`).
``$TRAINING_HUB_PROBE_FRAMES`` (default 1) sets the traceback depth kept per allocation.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import tracemalloc
from pathlib import Path
from types import FrameType, FunctionType, ModuleType
from typing import Any

from benchmarks.memory_census import census

PROBE_DIR_ENV = "TRAINING_HUB_PROBE_DIR"
FRAMES_ENV = "TRAINING_HUB_PROBE_FRAMES"
TRACEMALLOC_ENV = "TRAINING_HUB_PROBE_TRACEMALLOC"
#: Attributes of the runner that hold per-run state.
RUNNER_MAPS = ("_seen", "_handled", "_newest", "_settled", "phases", "stalled", "waiting_on_pods")


def snapshot_path(directory: Path, index: int) -> Path:
    """Where tracemalloc snapshot ``index`` is written."""
    return directory / f"snapshot-{index}.pickle"


def census_path(directory: Path, index: int) -> Path:
    """Where census ``index`` is written."""
    return directory / f"census-{index}.json"


def deep_size(obj: Any, seen: set[int] | None = None, depth: int = 8) -> int:
    """Bytes of ``obj`` and of what it holds (containers, ``__dict__``, ``__slots__``), each object once;
    modules, types and functions are not followed (they are shared, not per-object state)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (type, ModuleType, FunctionType)):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if depth <= 0:
        return size
    children: list[Any] = []
    if isinstance(obj, dict):
        children = [*obj.keys(), *obj.values()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = list(obj)
    elif not isinstance(obj, (str, bytes, int, float, bool)) and obj is not None:
        if hasattr(obj, "__dict__"):
            children.append(vars(obj))
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                children.append(getattr(obj, name))
    return size + sum(deep_size(child, seen, depth - 1) for child in children)


def operator_structures(*, sizes: bool = True) -> dict[str, Any]:
    """Count and deep size of the operator's per-object structures: each runner map, kopf's per-object
    memories (``ResourceMemories``, found through the garbage collector), the queued Events; and the
    threads and asyncio tasks alive. ``sizes=False``: the runner maps' counts, the queue and the threads
    only (nothing walked, next to no allocation)."""
    out: dict[str, Any] = {"threads": threading.active_count()}
    handlers = sys.modules.get("training_hub_operator.handlers")
    state: dict[str, Any] = getattr(handlers, "_state", {}) if handlers else {}
    runner = state.get("runner")
    if runner is not None:
        out["runner"] = {
            name: {
                "count": len(getattr(runner, name)),
                "bytes": deep_size(getattr(runner, name)) if sizes else None,
            }
            for name in RUNNER_MAPS
            if hasattr(runner, name)
        }
    recorder = state.get("recorder")
    if recorder is not None:
        out["events_queued"] = recorder._queue.qsize()
    if not sizes:
        return out
    memories = [o for o in gc.get_objects() if any(t.__name__ == "ResourceMemories" for t in type(o).__mro__)]
    out["kopf_memories"] = [
        {"count": len(m._items), "bytes": deep_size(m._items)} for m in memories if hasattr(m, "_items")
    ]
    out["asyncio_tasks"] = sum(1 for o in gc.get_objects() if type(o).__name__ == "Task")
    return out


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.rename(path)


def _install(directory: Path) -> None:
    taken = [0]

    def dump(signum: int, _frame: FrameType | None) -> None:
        index = taken[0]
        taken[0] += 1
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),)
            )
            final = snapshot_path(directory, index)
            tmp = final.with_suffix(".tmp")
            snap.dump(str(tmp))
            tmp.rename(final)
        # Light at the checkpoints (no object walk: it would allocate while the runs come in and show as
        # growth); full at the end, before the trim, and whenever tracemalloc runs anyway.
        full = signum == signal.SIGUSR2 or tracemalloc.is_tracing()
        facts = census(
            objects=full,
            trimmed=signum == signal.SIGUSR2,
            extra={"operator": operator_structures(sizes=full)},
        )
        if tracemalloc.is_tracing():
            facts["traced"] = tracemalloc.get_traced_memory()[0]
        _write_json(census_path(directory, index), facts)

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGUSR2, dump)


def top_growth(first: Path, later: Path, limit: int = 15, key: str = "lineno") -> list[str]:
    """The allocation sites that grew most between two snapshots, one line each (size diff, count diff,
    site), largest first."""
    old, new = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(later))
    rows = []
    for stat in new.compare_to(old, key)[:limit]:
        frame = stat.traceback[0]
        where = frame.filename
        for marker in ("site-packages/", "operator/", "runtime/", "lib/python3."):
            if marker in where:
                where = where.split(marker, 1)[1]
                break
        rows.append(f"{stat.size_diff / 2**20:+.2f} MiB {stat.count_diff:+d} blocks {where}:{frame.lineno}")
    return rows


def traced_total(path: Path) -> int:
    """Bytes held by the traced Python allocations of a snapshot."""
    return sum(s.size for s in tracemalloc.Snapshot.load(str(path)).statistics("filename"))


def main(argv: list[str] | None = None) -> int:
    """Start tracing (when asked), install the signals, run the operator's ``main``."""
    directory = Path(os.environ[PROBE_DIR_ENV])
    directory.mkdir(parents=True, exist_ok=True)
    if os.environ.get(TRACEMALLOC_ENV, "1") == "1":
        tracemalloc.start(int(os.environ.get(FRAMES_ENV, "1")))
    _install(directory)
    from training_hub_operator.main import main as operator_main

    return operator_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
