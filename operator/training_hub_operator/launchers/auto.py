"""Choosing a launcher: the one a run names, or for ``auto`` the first the cluster can run.

Pure: the caller passes which resource kinds the API server serves (``served(kind) -> bool``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from training_hub.contracts.kinds import ResourceKind
from training_hub_operator.launchers import LAUNCHER_MODULES, available_launchers, get_launcher
from training_hub_operator.launchers.base import Launcher


@dataclass(frozen=True)
class LauncherChoice:
    """The outcome of choosing a launcher.

    Attributes:
        launcher: The launcher, or None when none can run here.
        reason: CamelCase reason for the status.
        message: Why (which CRDs are served, what to install or set).
    """

    launcher: Launcher | None
    reason: str
    message: str


def _missing(launcher: Launcher, served: Callable[[ResourceKind], bool]) -> list[ResourceKind]:
    return [k for k in launcher.required_kinds if not served(k)]


def _kinds(kinds: list[ResourceKind]) -> str:
    return ", ".join(f"{k.kind} ({k.plural}.{k.group}/{k.version})" for k in kinds)


def choose_launcher(
    requested: str,
    served: Callable[[ResourceKind], bool],
    incompatible: Callable[[Launcher], str | None] | None = None,
) -> LauncherChoice:
    """Pick the launcher of a run.

    Args:
        requested: ``spec.launcher``: ``auto`` or a launcher name.
        served: Whether the API server serves a kind.
        incompatible: Why the served API of a launcher's kinds is one it cannot render for (e.g. a Kubeflow
            Trainer older than v2.2), or None when it can; not called for launchers whose kinds are not
            served.

    Returns:
        The choice with its reason; ``launcher`` is None when the run cannot be launched.
    """
    why_not = incompatible or (lambda launcher: None)
    if requested != "auto":
        launcher = get_launcher(requested)
        if launcher is None:
            have = ", ".join(available_launchers()) or "none"
            return LauncherChoice(
                None,
                "LauncherUnavailable",
                f"launcher {requested!r} is not available in this operator version (available: {have})",
            )
        missing = _missing(launcher, served)
        if missing:
            return LauncherChoice(
                None,
                "LauncherCRDMissing",
                f"launcher {requested!r} needs {_kinds(missing)} but the cluster does not serve it: install "
                "it, or set spec.launcher to another launcher (or auto)",
            )
        problem = why_not(launcher)
        if problem:
            return LauncherChoice(None, "LauncherIncompatible", f"launcher {requested!r}: {problem}")
        return LauncherChoice(launcher, "Requested", f"spec.launcher is {requested}")
    tried: list[str] = []
    launchers = available_launchers()
    for name, launcher in launchers.items():
        missing = _missing(launcher, served)
        problem = None if missing else why_not(launcher)
        if problem:
            tried.append(f"{name}: {problem}")
            continue
        if not missing:
            why = (
                f"the cluster serves {_kinds(list(launcher.required_kinds))}"
                if launcher.required_kinds
                else "it needs only built-in kinds"
            )
            also = [
                n
                for n, other in launchers.items()
                if n != name
                and other.required_kinds
                and not _missing(other, served)
                and not why_not(other)
                and not any(t.startswith(f"{n}:") for t in tried)
            ]
            if also:
                why += (
                    f"; {', '.join(also)} could run too, {name} is preferred (Kubeflow Trainer v2 is current, "
                    "Training Operator v1 is in maintenance, Kueue integrates TrainJob by default)"
                )
            if tried:
                why += f" ({'; '.join(tried)})"
            return LauncherChoice(launcher, "AutoSelected", f"auto chose {name}: {why}")
        tried.append(f"{name} needs {_kinds(missing)}")
    absent = [n for n in LAUNCHER_MODULES if get_launcher(n) is None]
    detail = "; ".join(tried) or "no launcher is available"
    extra = f" ({', '.join(absent)} not available in this operator version)" if absent else ""
    return LauncherChoice(
        None,
        "NoLauncherAvailable",
        f"no launcher can run this TrainingRun here: {detail}{extra}. Install the Kubeflow Training "
        "Trainer (TrainJob) or Training Operator (PyTorchJob), or set spec.launcher explicitly",
    )
