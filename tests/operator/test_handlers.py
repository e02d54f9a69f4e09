"""The resync thread of the handlers (no API server: what it calls is replaced by recorders)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from training_hub_operator import handlers
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


def _resync_until(
    done: threading.Event, runner: Any, settings: OperatorSettings, monkeypatch: pytest.MonkeyPatch
) -> bool:
    """Run the resync thread with ``runner`` and ``settings`` until ``done`` is set (False after 10 s), then
    stop it; it must have stopped."""
    stop = threading.Event()
    monkeypatch.setitem(handlers._state, "stop", stop)
    monkeypatch.setitem(handlers._state, "runner", runner)
    monkeypatch.setitem(handlers._state, "settings", settings)
    thread = threading.Thread(target=handlers._resync_loop, daemon=True)
    thread.start()
    try:
        return done.wait(10.0)
    finally:
        stop.set()
        thread.join(5.0)
        assert not thread.is_alive()


def test_the_resync_thread_survives_a_failed_recheck_of_waiting_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    reconciled = threading.Event()

    def waiting_runs(_runner: Any) -> list[str]:
        calls.append("recheck")
        if len(calls) == 1:
            raise ConnectionResetError("the API server went away mid-list")
        return ["ns/waiting"]

    def reconcile(namespace: str | None, name: str | None, trigger: str, body: Any = None) -> None:
        assert (namespace, name, trigger) == ("ns", "waiting", "resync")
        reconciled.set()

    monkeypatch.setattr(handlers, "RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(handlers, "waiting_runs", waiting_runs)
    monkeypatch.setattr(handlers, "_reconcile", reconcile)
    assert _resync_until(reconciled, object(), OperatorSettings(resync_seconds=3600.0), monkeypatch), calls
    assert calls[:2] == ["recheck", "recheck"]


def test_a_failed_sweep_leaves_the_resync_going_and_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    sweeps: list[str] = []
    listed = threading.Event()

    class _Runner:
        kube = object()

        def changed_since_reconcile(self, namespaces: list[str]) -> set[str]:
            sweeps.append("sweep")
            raise ConnectionResetError("the API server went away mid-list")

        def needs_resync(self, run: Any) -> bool:
            return False

    def unfinished_runs(kube: Any, namespaces: list[str], keep: Any = None) -> list[tuple[str, str]]:
        assert keep is not None and keep({"metadata": {"namespace": "ns", "name": "a"}}) is False
        if len(sweeps) >= 2:
            listed.set()
        return []

    monkeypatch.setattr(handlers, "unfinished_runs", unfinished_runs)
    monkeypatch.setattr(handlers, "waiting_runs", lambda _runner: [])
    settings = OperatorSettings(resync_seconds=0.5, full_resync_seconds=0.5)
    assert _resync_until(listed, _Runner(), settings, monkeypatch), sweeps
