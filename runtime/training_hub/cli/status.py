"""``training-hub status [NAME] [-n NS] [--png FILE] [--json]``: a TrainingRun's summary with its loss curve.

Without NAME, one line per run of the namespace (as ``kubectl get tr``). With NAME: phase, plan, progress,
usage, conditions with reasons, recent events and the loss curve as a sparkline (from
``status.progress.lossHistory``, which the training pod keeps); ``--png`` writes the curve as a plot;
``--metrics-dir`` reads the full curve from a local output directory instead. Credentials come from
``--kubeconfig``, ``KUBECONFIG`` or the pod's service account.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from training_hub.contracts import pod_env
from training_hub.contracts.kinds import TRAININGRUN
from training_hub.contracts.progress import LossHistory, Progress
from training_hub.errors import TrainingHubError
from training_hub.pod import exit_codes
from training_hub.timefmt import format_duration, parse_time


def add_arguments(parser: argparse.ArgumentParser, **_options: Any) -> None:
    """Add the status arguments."""
    parser.add_argument("name", nargs="?", help="TrainingRun name (omit to list the namespace's runs)")
    parser.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig's, else default)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or in-cluster)")
    parser.add_argument("--png", metavar="FILE", help="also write the loss curve as a PNG plot")
    parser.add_argument(
        "--metrics-dir",
        metavar="DIR",
        help="read the loss curve from this local output directory (training_metrics.jsonl) instead",
    )
    parser.add_argument("--json", action="store_true", help="print the TrainingRun's status as JSON")
    parser.add_argument("--width", type=int, default=60, help="sparkline width in characters (default 60)")


def _default_namespace(kubeconfig: str | None) -> str:
    path = kubeconfig or (os.environ.get(pod_env.KUBECONFIG) or "").split(os.pathsep)[0]
    if path and os.path.isfile(path):
        import yaml

        from training_hub.observability.kubeapi import current_context

        try:
            ctx = current_context(yaml.safe_load(Path(path).read_text()) or {})
            if ctx.get("namespace"):
                return str(ctx["namespace"])
        except (OSError, StopIteration, KeyError, TypeError, yaml.YAMLError):
            pass
    sa_ns = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    if os.path.isfile(sa_ns):
        return Path(sa_ns).read_text().strip()
    return "default"


def age(ts: str | None, now: float) -> str:
    """``5m3s`` since an RFC 3339 time (``-`` when unknown)."""

    t = parse_time(ts)
    return "-" if t is None else format_duration(now - t)


def read_progress(run: dict[str, Any]) -> Progress:
    """``status.progress`` as its model (the CRD's schema is generated from it, so the API server has checked
    it; a body that still does not fit, e.g. written by another version, shows as no progress)."""
    raw = (run.get("status") or {}).get("progress") or {}
    try:
        return Progress.model_validate(raw)
    except ValidationError:
        return Progress()


def loss_curve(run: dict[str, Any], metrics_dir: str | None = None) -> tuple[list[float], list[float], str]:
    """Steps, losses and where they came from: a local metrics directory, else ``status.progress.lossHistory``."""
    if metrics_dir:
        from training_hub.visualization import read_loss_curve

        curve = read_loss_curve(metrics_dir)
        return [float(s) for s in curve.steps], [float(v) for v in curve.losses], curve.source
    hist = read_progress(run).loss_history or LossHistory()
    steps, losses = hist.steps, hist.losses
    n = min(len(steps), len(losses))
    return [float(s) for s in steps[:n]], [float(v) for v in losses[:n]], "status.progress.lossHistory"


def render_summary(
    run: dict[str, Any],
    events: list[dict[str, Any]],
    now: float,
    width: int = 60,
    curve: tuple[list[float], list[float], str] | None = None,
) -> str:
    """The human-readable summary of one run."""
    from training_hub.observability.sparkline import sparkline

    meta, spec, st = run.get("metadata") or {}, run.get("spec") or {}, run.get("status") or {}
    lines = [f"TrainingRun {meta.get('namespace')}/{meta.get('name')}"]
    lines.append(
        f"  Phase:      {st.get('phase') or 'Pending'} (age {age(meta.get('creationTimestamp'), now)})"
    )
    lines.append(
        f"  Algorithm:  {spec.get('algorithm', '-')}   model {(spec.get('model') or {}).get('uri', '-')}"
    )
    plan = st.get("plan") or {}
    if plan:
        per_gpu = (plan.get("perGpu") or {}).get("expected")
        lines.append(
            f"  Plan:       {plan.get('nodes')} node(s) x {plan.get('gpusPerNode')} GPU(s)"
            + (f", ~{per_gpu} per GPU" if per_gpu else "")
            + (f" via {(st.get('launcher') or {}).get('name')}" if st.get("launcher") else "")
        )
    p = read_progress(run)
    if p.step is not None:
        text = (
            f"step {p.step}"
            + (f"/{p.total_steps}" if p.total_steps else "")
            + (f" ({p.percent}%)" if p.percent is not None else "")
        )
        if p.epoch is not None:
            text += f"  epoch {p.epoch}"
        if p.samples_seen is not None:
            text += f"  samples {p.samples_seen}"
        lines.append(f"  Progress:   {text}")
        extra = []
        if p.loss is not None:
            extra.append(f"loss {p.loss:.4f}")
        if p.tokens_per_second is not None:
            extra.append(f"{p.tokens_per_second:.0f} tok/s")
        eta = parse_time(p.eta)
        if eta is not None and st.get("phase") == "Running":
            extra.append(f"ETA {p.eta} (in {format_duration(eta - now)})")
        if p.last_step_time:
            extra.append(f"last step {age(p.last_step_time, now)} ago")
        if extra:
            lines.append("              " + "  ".join(extra))
        if p.last_checkpoint:
            lines.append(f"  Checkpoint: {p.last_checkpoint}")
    usage = st.get("usage") or {}
    if usage:
        text = f"wall {format_duration(usage.get('wallSeconds') or 0)}, {usage.get('gpus', 0)} GPU(s), "
        text += f"{usage.get('gpuSeconds', 0):.0f} GPU-seconds"
        if usage.get("predictedSeconds"):
            text += f"; predicted {format_duration(usage['predictedSeconds'])}"
            if usage.get("trainingSeconds"):
                text += f", actual {format_duration(usage['trainingSeconds'])}"
        lines.append(f"  Usage:      {text}")
    steps, losses, source = curve if curve is not None else loss_curve(run)
    if losses:
        lines.append(
            f"  Loss:       {sparkline(losses, width)}  {losses[0]:.3f} -> {losses[-1]:.3f} "
            f"(steps {steps[0]:.0f}..{steps[-1]:.0f}, {source})"
        )
    conds = st.get("conditions") or []
    if conds:
        lines.append("  Conditions:")
        for c in conds:
            msg = " ".join(str(c.get("message") or "").split())
            msg = msg if len(msg) <= 110 else msg[:107] + "..."
            lines.append(
                f"    {c.get('type', ''):<10} {c.get('status', ''):<7} {c.get('reason', ''):<22} {msg}"
            )
    if events:
        lines.append("  Events:")
        for ev in events[-12:]:
            when = (
                ev.get("lastTimestamp")
                or ev.get("eventTime")
                or (ev.get("metadata") or {}).get("creationTimestamp")
            )
            msg = " ".join(str(ev.get("message") or "").split())
            msg = msg if len(msg) <= 100 else msg[:97] + "..."
            lines.append(
                f"    {age(when, now):>7} ago  {ev.get('type', ''):<7} {ev.get('reason', ''):<18} {msg}"
            )
    return "\n".join(lines)


def render_table(runs: list[dict[str, Any]], now: float) -> str:
    """One line per run: name, phase, progress, loss, ETA, age."""
    rows = [("NAME", "PHASE", "PROGRESS", "LOSS", "ETA", "AGE")]
    for run in runs:
        st = run.get("status") or {}
        p = read_progress(run)
        rows.append(
            (
                str((run.get("metadata") or {}).get("name")),
                str(st.get("phase") or "Pending"),
                f"{p.percent}%" if p.percent is not None else "-",
                f"{p.loss:.4f}" if p.loss is not None else "-",
                str(p.eta or "-") if st.get("phase") == "Running" else "-",
                age((run.get("metadata") or {}).get("creationTimestamp"), now),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def write_png(curve: tuple[list[float], list[float], str], name: str, path: str) -> str:
    """Plot the loss curve to a PNG; return its path."""
    from training_hub.errors import InvalidInputError
    from training_hub.visualization import COLORS, LossCurve, _draw

    steps, losses, source = curve
    if not losses:
        raise InvalidInputError(f"TrainingRun {name} has no loss values yet: nothing to plot")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _draw(
        [LossCurve(steps, losses, "loss", source, label=name, color=COLORS[0])], target, dpi=150, show=False
    )
    return str(target)


def run(args: argparse.Namespace) -> int:
    """Print the status; exit 0, 1 when the run does not exist, 2 on other errors."""
    from training_hub.observability.kubeapi import KubeApiError, KubeConnection

    try:
        conn = (
            KubeConnection.from_kubeconfig(args.kubeconfig) if args.kubeconfig else KubeConnection.from_env()
        )
    except KubeApiError as exc:
        print(f"training-hub status: error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    if conn is None:
        print(
            "training-hub status: error: no cluster credentials: set KUBECONFIG or pass --kubeconfig",
            file=sys.stderr,
        )
        return exit_codes.USAGE
    ns = args.namespace or _default_namespace(args.kubeconfig)
    base = TRAININGRUN.path(ns)
    now = time.time()
    try:
        if not args.name:
            runs = conn.request("GET", base).get("items") or []
            if args.json:
                print(
                    json.dumps(
                        [{"name": r["metadata"]["name"], "status": r.get("status")} for r in runs], indent=1
                    )
                )
            else:
                print(render_table(runs, now) if runs else f"no TrainingRuns in namespace {ns}")
            return 0
        run_obj = conn.request("GET", f"{base}/{args.name}")
        from urllib.parse import quote

        selector = quote(f"involvedObject.name={args.name},involvedObject.kind=TrainingRun")
        events = (
            conn.request("GET", f"/api/v1/namespaces/{ns}/events?fieldSelector={selector}").get("items") or []
        )
    except KubeApiError as exc:
        if exc.status == 404:
            print(f"training-hub status: error: TrainingRun {ns}/{args.name} not found", file=sys.stderr)
            return 1
        print(f"training-hub status: error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    try:
        curve = loss_curve(run_obj, args.metrics_dir)
        if args.json:
            print(json.dumps(run_obj.get("status") or {}, indent=1))
        else:
            print(render_summary(run_obj, events, now, args.width, curve))
        if args.png:
            print(f"loss plot: {write_png(curve, args.name, args.png)}")
    except (TrainingHubError, FileNotFoundError) as exc:
        print(f"training-hub status: error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    return 0
