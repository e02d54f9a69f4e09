"""The native engine's metrics file: one JSON line per optimizer step in ``<ckpt_output_dir>/training_metrics.jsonl``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from training_hub.contracts.run_files import METRICS_FILE


def truncate_metrics(path: Path, keep_until_step: int) -> dict[str, Any] | None:
    """Keep only the lines of steps <= ``keep_until_step`` (a resumed run rewrites later ones).

    Returns:
        The last kept row, or None when there is no file or no row is kept.
    """
    if not path.exists():
        return None
    kept, last = [], None
    for raw in path.read_text().splitlines():
        try:
            row = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and int(row.get("step", 0)) <= keep_until_step:
            kept.append(raw)
            last = row
    tmp = path.with_name(f".{METRICS_FILE}.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)
    return last


def append_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append one step's row."""
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
