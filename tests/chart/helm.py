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


def install(
    kubeconfig: str | Path, release: str, namespace: str, values: dict[str, Any] | None = None
) -> Any:
    """Install the chart as ``release`` into ``namespace`` (created if missing), without waiting for pods."""
    return helm(
        "install",
        kubeconfig=kubeconfig,
        namespace=namespace,
        release=release,
        chart=CHART_DIR,
        values=values or {},
        create_namespace=True,
        wait=False,
    )
