"""``plot_loss``: training-loss curves of one or more runs, saved as a PNG.

Compatible with upstream training_hub: the same metrics-file search (``training_log.jsonl``,
``training_metrics.jsonl``, ``metrics.jsonl``, else any ``*.jsonl`` not ending in ``data.jsonl``, and here
also ``checkpoint-*/trainer_state.json``), the same loss keys (``avg_loss``, ``loss``,
``avg_loss_backwards``, ``train_loss``), EMA span 30, ``loss_plot.png`` at dpi 150. Better: the x axis is
the optimizer ``step`` when the metrics have one (not the line number), one curve per run, the eval
loss (``eval_loss``, or instructlab-training/mini-trainer's ``val_loss``) drawn as dotted markers beside
the training loss, and :func:`read_loss_curve` gives the data without plotting. matplotlib is imported only when plotting.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training_hub.contracts.run_files import METRICS_FILE
from training_hub.errors import InvalidInputError

logger = logging.getLogger("training_hub")

METRICS_FILES = ("training_log.jsonl", METRICS_FILE, "metrics.jsonl")
DEFAULT_METRIC_KEYS = ("avg_loss", "loss", "avg_loss_backwards", "train_loss")
#: Eval-loss keys: ours and Hugging Face's (``eval_loss``), instructlab-training's and mini-trainer's.
EVAL_METRIC_KEYS = ("eval_loss", "val_loss")
COLORS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)
DPI = 150
EMA_SPAN = 30


@dataclass
class LossCurve:
    """One run's loss values.

    Attributes:
        steps: x values: the ``step`` of each entry when present, else its 1-based position.
        losses: Loss values.
        key: The metrics key the losses came from.
        source: The file they were read from.
        label: Legend label.
        color: Plot colour (set by :func:`plot_loss`).
        eval_steps: Steps of the eval-loss values.
        eval_losses: Eval-loss values (empty without eval data).
    """

    steps: list[float]
    losses: list[float]
    key: str | None
    source: str
    label: str = ""
    color: str = ""
    ema: list[float] = field(default_factory=list)
    eval_steps: list[float] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)


def find_metrics_file(run_dir: str | os.PathLike[str], metrics_file: str | None = None) -> Path:
    """Find the metrics file of a run directory (see the module docstring for the search order).

    Raises:
        FileNotFoundError: When there is none.
    """
    root = Path(run_dir)
    if metrics_file:
        path = root / metrics_file
        if path.is_file():
            return path
        raise FileNotFoundError(f"metrics file not found: {path}")
    for name in METRICS_FILES:
        if (root / name).is_file():
            return root / name
    others = sorted(p for p in root.glob("*.jsonl") if not p.name.endswith("data.jsonl"))
    if others:
        return others[0]
    states = [p for p in root.glob("checkpoint-*/trainer_state.json") if p.is_file()]
    if states:

        def number(path: Path) -> int:
            match = re.search(r"(\d+)$", path.parent.name)
            return int(match.group(1)) if match else -1

        return max(states, key=number)
    raise FileNotFoundError(
        f"no metrics file in {root}: tried {', '.join(METRICS_FILES)}, any *.jsonl (not *data.jsonl) and "
        "checkpoint-*/trainer_state.json"
    )


def _entries(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".json":
        state = json.loads(path.read_text())
        history = state.get("log_history", []) if isinstance(state, dict) else []
        return [e for e in history if isinstance(e, dict)]
    entries = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                entries.append(value)
    return entries


def read_loss_curve(
    run_dir: str | os.PathLike[str],
    metrics_file: str | None = None,
    metric_keys: Sequence[str] | None = None,
) -> LossCurve:
    """Read one run's loss values and their steps.

    Each entry contributes the value of the first of ``metric_keys`` it holds (entries with none, such as
    evaluation records, are skipped). The x value is the entry's ``step`` when it has one.

    Raises:
        FileNotFoundError: When the run has no metrics file.
    """
    path = find_metrics_file(run_dir, metrics_file)
    keys = tuple(metric_keys or DEFAULT_METRIC_KEYS)
    curve = LossCurve(steps=[], losses=[], key=None, source=str(path))
    for position, entry in enumerate(_entries(path), start=1):
        step = entry.get("step")
        x = float(step) if isinstance(step, int | float) else float(position)
        found = _first_number(entry, EVAL_METRIC_KEYS)
        if found is not None:
            curve.eval_steps.append(x)
            curve.eval_losses.append(found[1])
        found = _first_number(entry, keys)
        if found is not None:
            curve.steps.append(x)
            curve.losses.append(found[1])
            curve.key = curve.key or found[0]
    return curve


def _first_number(entry: dict[str, object], keys: Sequence[str]) -> tuple[str, float] | None:
    """The first of ``keys`` whose value in ``entry`` is a number, with that value."""
    for key in keys:
        value = entry.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return key, float(value)
    return None


def exponential_moving_average(values: Sequence[float], span: int = EMA_SPAN) -> list[float]:
    """EMA with ``alpha = 2 / (span + 1)``, starting at the first value (pandas ``ewm(adjust=False)``)."""
    alpha = 2.0 / (span + 1.0)
    result: list[float] = []
    for value in values:
        result.append(value if not result else alpha * value + (1.0 - alpha) * result[-1])
    return result


def plot_loss(
    ckpt_output_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    labels: Sequence[str] | None = None,
    ema: bool = False,
    output_path: str | os.PathLike[str] | None = None,
    metrics_file: str | None = None,
    ema_span: int = EMA_SPAN,
    metric_keys: Sequence[str] | None = None,
    show: bool = False,
    dpi: int = DPI,
) -> str:
    """Plot the training loss of one or more runs and save it as a PNG.

    Args:
        ckpt_output_dirs: A run directory (``ckpt_output_dir`` of a training run) or a list of them.
        labels: Legend label per run (default: directory names).
        ema: Also draw an exponential moving average (dashed, same colour).
        output_path: Where to save (default: ``<first run>/loss_plot.png``).
        metrics_file: File name inside each run directory (default: searched).
        ema_span: EMA span (default 30).
        metric_keys: Loss keys to try in order (default: avg_loss, loss, avg_loss_backwards, train_loss).
        show: Also open an interactive window.
        dpi: Resolution of the PNG (default 150).

    Returns:
        The path of the saved PNG.

    Raises:
        InvalidInputError: When no run has loss data, or ``labels`` does not match the runs.
    """
    runs = [ckpt_output_dirs] if isinstance(ckpt_output_dirs, str | os.PathLike) else list(ckpt_output_dirs)
    if not runs:
        raise InvalidInputError("plot_loss needs at least one run directory")
    if labels is not None and len(labels) != len(runs):
        raise InvalidInputError(f"got {len(labels)} labels for {len(runs)} run directories")
    curves = []
    for index, run in enumerate(runs):
        try:
            curve = read_loss_curve(run, metrics_file, metric_keys)
        except FileNotFoundError as err:
            logger.warning("%s", err)
            continue
        if not curve.losses:
            logger.warning(
                "%s: no loss values (keys tried: %s)",
                curve.source,
                ", ".join(metric_keys or DEFAULT_METRIC_KEYS),
            )
            continue
        curve.label = labels[index] if labels is not None else Path(run).resolve().name
        curve.color = COLORS[index % len(COLORS)]
        if ema:
            curve.ema = exponential_moving_average(curve.losses, ema_span)
        curves.append(curve)
    if not curves:
        raise InvalidInputError(
            f"no loss data in {', '.join(str(r) for r in runs)}: check that training wrote metrics there"
        )
    target = Path(output_path) if output_path is not None else Path(runs[0]) / "loss_plot.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    _draw(curves, target, dpi=dpi, show=show)
    logger.info("loss plot saved to %s", target)
    return str(target)


def _draw(curves: list[LossCurve], target: Path, dpi: int, show: bool) -> None:
    import matplotlib

    if not show:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 6))
    try:
        for curve in curves:
            axes.plot(curve.steps, curve.losses, label=curve.label, color=curve.color, linewidth=1.5)
            extra_lines: list[tuple[list[float], list[float], str, dict[str, Any]]] = [
                (curve.steps, curve.ema, "EMA", {"linestyle": "--", "alpha": 0.7}),
                (curve.eval_steps, curve.eval_losses, "eval", {"linestyle": ":", "marker": "o"}),
            ]
            for xs, ys, what, style in extra_lines:
                if ys:
                    axes.plot(xs, ys, label=f"{curve.label} ({what})", color=curve.color, **style)
        keys = sorted({c.key for c in curves if c.key})
        axes.set_xlabel("step")
        axes.set_ylabel(", ".join(keys) or "loss")
        axes.set_title(f"{', '.join(keys) or 'loss'} over training steps")
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(target, dpi=dpi, bbox_inches="tight")
        if show:
            plt.show()
    finally:
        plt.close(figure)
