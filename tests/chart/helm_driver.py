"""Run one Helm action through helm-sdkpy (Helm v4 as a library) and print the result as JSON.

This file runs inside the helm venv (Python 3.12+, made by ``helm_venv.sh``), never in the project venv:
the tests call it with :func:`tests.chart.helm.helm`. It reads one JSON request on stdin::

    {"action": "install", "kubeconfig": "...", "namespace": "th-system",
     "release": "th", "chart": "charts/training-hub", "values": {...}}

and prints ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "...", "type": "InstallError"}``.

Actions: ``version``, ``lint``, ``show_chart``, ``show_values``, ``package``, ``install``, ``upgrade``,
``uninstall``, ``status``, ``list``, ``history``, ``get_values``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def _run(req: dict[str, Any]) -> Any:
    import helm_sdkpy as helm

    action = req["action"]
    if action == "version":
        return {"helm": helm.get_version(), "helm_sdkpy": helm.__version__}
    config = helm.Configuration(
        namespace=req.get("namespace", "default"),
        kubeconfig=req.get("kubeconfig"),
        insecure_skip_tls_verify=bool(req.get("insecure_skip_tls_verify", False)),
    )
    release = req.get("release", "")
    chart = req.get("chart", "")
    values = req.get("values") or None
    timeout = int(req.get("timeout", 120))
    if action == "lint":
        return await helm.Lint(config).run(chart)
    if action == "show_chart":
        return await helm.Show(config).chart(chart)
    if action == "show_values":
        return await helm.Show(config).values(chart)
    if action == "package":
        return await helm.Package(config).run(chart, dest_dir=req.get("dest_dir"))
    if action in ("install", "upgrade"):
        options = {
            "values": values,
            "create_namespace": bool(req.get("create_namespace", False)),
            "wait": bool(req.get("wait", False)),
            "timeout": timeout,
        }
        if action == "install":
            return await helm.Install(config).run(release, chart, **options)
        return await helm.Upgrade(config).run(
            release,
            chart,
            install=bool(req.get("install", False)),
            reuse_values=bool(req.get("reuse_values", False)),
            **options,
        )
    if action == "uninstall":
        return await helm.Uninstall(config).run(release, wait=bool(req.get("wait", False)), timeout=timeout)
    if action == "status":
        return await helm.Status(config).run(release)
    if action == "list":
        return await helm.List(config).run(all=bool(req.get("all", False)))
    if action == "history":
        return await helm.History(config).run(release)
    if action == "get_values":
        return await helm.GetValues(config).run(release, all=bool(req.get("all", False)))
    raise ValueError(f"unknown action {action!r}")


def _trim(result: Any) -> Any:
    """Drop the chart's files from release answers (base64 templates, values, schema): tests never need them."""
    if isinstance(result, dict) and isinstance(result.get("chart"), dict):
        chart = result["chart"]
        result = {**result, "chart": {"metadata": chart.get("metadata")}}
    return result


def _lint_messages(result: dict[str, Any]) -> dict[str, Any]:
    """helm-sdkpy serialises lint errors as empty objects: keep the severities and paths that are there."""
    names = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
    messages = [
        {"severity": names.get(m.get("Severity"), str(m.get("Severity"))), "path": m.get("Path", "")}
        for m in result.get("Messages") or []
    ]
    return {"charts": result.get("TotalChartsLinted"), "messages": messages}


def main() -> int:
    req = json.loads(sys.stdin.read())
    try:
        result = _trim(asyncio.run(_run(req)))
        if req["action"] == "lint":
            result = _lint_messages(result)
    except Exception as exc:  # every failure becomes a JSON answer the caller can assert on
        print(json.dumps({"ok": False, "type": type(exc).__name__, "error": str(exc)}))
        return 1
    print(json.dumps({"ok": True, "result": result}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
