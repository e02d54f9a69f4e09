"""The operator under a memory probe (benchmark only): where its memory per run goes.

``python -m benchmarks.operator_probe ARGS`` runs ``training_hub_operator.main`` with ``ARGS`` after
starting :mod:`tracemalloc`; each ``SIGUSR1`` writes a snapshot to
``$TRAINING_HUB_PROBE_DIR/snapshot-<k>.pickle`` (k = 0, 1, ...; written to a temporary name, then renamed,
so a reader never sees half a file). ``benchmarks/operator_throughput.py --tracemalloc`` sends the signal
at 0, 1000, 5000 and 10,000 launched runs and diffs the snapshots (:func:`top_growth`).
``$TRAINING_HUB_PROBE_FRAMES`` (default 1) sets the traceback depth kept per allocation.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

PROBE_DIR_ENV = "TRAINING_HUB_PROBE_DIR"
FRAMES_ENV = "TRAINING_HUB_PROBE_FRAMES"


def snapshot_path(directory: Path, index: int) -> Path:
    """Where snapshot ``index`` is written."""
    return directory / f"snapshot-{index}.pickle"


def _install(directory: Path) -> None:
    taken = [0]

    def dump(_signum: int, _frame: FrameType | None) -> None:
        snap = tracemalloc.take_snapshot().filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
        final = snapshot_path(directory, taken[0])
        tmp = final.with_suffix(".tmp")
        snap.dump(str(tmp))
        tmp.rename(final)
        taken[0] += 1

    signal.signal(signal.SIGUSR1, dump)


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
    """Start tracing, install the snapshot signal, run the operator's ``main``."""
    directory = Path(os.environ[PROBE_DIR_ENV])
    directory.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(int(os.environ.get(FRAMES_ENV, "1")))
    _install(directory)
    from training_hub_operator.main import main as operator_main

    return operator_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
