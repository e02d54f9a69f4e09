"""Call Helm (helm-sdkpy, Helm v4 as a library) from the project's tests.

helm-sdkpy needs Python 3.12+, the project runs on 3.11: :func:`helm_python` makes its venv once with
``helm_venv.sh`` and :func:`helm` runs one action of ``helm_driver.py`` in it, as a subprocess, returning the
JSON answer. Failures come back as :class:`HelmFailed` with Helm's own message.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CHART_DIR = REPO_ROOT / "charts" / "training-hub"
VENV_SCRIPT = HERE / "helm_venv.sh"
DRIVER = HERE / "helm_driver.py"


class HelmFailed(RuntimeError):
    """A Helm action failed; ``kind`` is helm-sdkpy's exception class name (``InstallError``...)."""

    def __init__(self, action: str, kind: str, message: str) -> None:
        super().__init__(f"helm {action} failed ({kind}): {message}")
        self.kind = kind
        self.message = message


@functools.cache
def helm_python() -> str:
    """Path of the helm venv's python (created on first use; idempotent)."""
    proc = subprocess.run(
        ["bash", str(VENV_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{VENV_SCRIPT} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


def helm(action: str, *, timeout: float = 300.0, **request: Any) -> Any:
    """Run one Helm action and return its result.

    Args:
        action: ``lint``, ``install``, ``upgrade``, ``uninstall``, ``status``, ``list``, ``history``,
            ``get_values``, ``show_chart``, ``show_values``, ``package`` or ``version``.
        timeout: Seconds before the subprocess is killed.
        **request: The action's fields (``kubeconfig``, ``namespace``, ``release``, ``chart``, ``values``...).

    Returns:
        The action's result (a release dict for install/upgrade/status).

    Raises:
        HelmFailed: When Helm reports an error.
    """
    req = {"action": action, **{k: (str(v) if isinstance(v, Path) else v) for k, v in request.items()}}
    proc = subprocess.run(
        [helm_python(), str(DRIVER)],
        input=json.dumps(req),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"helm driver gave no answer ({proc.returncode}):\n{proc.stderr[-4000:]}")
    answer = json.loads(lines[-1])
    if not answer["ok"]:
        raise HelmFailed(action, answer["type"], answer["error"])
    return answer["result"]


def manifest_objects(release: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a release's rendered manifest (templates only; ``crds/`` are not part of it)."""
    return [doc for doc in yaml.safe_load_all(release.get("manifest", "")) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """Objects of a kind (and name) among ``objects``."""
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def _release_action(
    action: str,
    kubeconfig: str | Path,
    release: str,
    namespace: str,
    values: dict[str, Any] | None,
    **options: Any,
) -> Any:
    """``install`` or ``upgrade`` ``release`` in ``namespace`` with ``values``, without waiting for pods."""
    return helm(
        action,
        kubeconfig=kubeconfig,
        namespace=namespace,
        release=release,
        values=values or {},
        wait=False,
        **options,
    )


def install(
    kubeconfig: str | Path, release: str, namespace: str, values: dict[str, Any] | None = None
) -> Any:
    """Install the chart as ``release`` into ``namespace`` (created if missing), without waiting for pods."""
    return _release_action(
        "install", kubeconfig, release, namespace, values, chart=CHART_DIR, create_namespace=True
    )


def upgrade(
    kubeconfig: str | Path,
    release: str,
    namespace: str,
    values: dict[str, Any] | None = None,
    *,
    chart: str | Path = CHART_DIR,
    **options: Any,
) -> Any:
    """Upgrade ``release`` in ``namespace`` to ``chart`` with ``values``, without waiting for pods.

    Args:
        kubeconfig: The cluster's kubeconfig.
        release: The release name.
        namespace: The release's namespace.
        values: The values (none: the chart's defaults).
        chart: The chart (this project's, unless a test replays another request).
        **options: Helm's upgrade options (``install``, ``create_namespace``, ``reuse_values``).
    """
    return _release_action("upgrade", kubeconfig, release, namespace, values, chart=chart, **options)


def uninstall(kubeconfig: str | Path, release: str, namespace: str) -> None:
    """Uninstall ``release`` from ``namespace``, without waiting for its objects to go."""
    helm("uninstall", kubeconfig=kubeconfig, namespace=namespace, release=release, wait=False)
