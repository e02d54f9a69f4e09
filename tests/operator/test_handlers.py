"""The resync thread of the handlers (no API server: what it calls is replaced by recorders)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from training_hub_operator import handlers
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


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

    stop = threading.Event()
    monkeypatch.setattr(handlers, "RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(handlers, "waiting_runs", waiting_runs)
    monkeypatch.setattr(handlers, "_reconcile", reconcile)
    monkeypatch.setitem(handlers._state, "stop", stop)
    monkeypatch.setitem(handlers._state, "runner", object())
    monkeypatch.setitem(handlers._state, "settings", OperatorSettings(resync_seconds=3600.0))
    thread = threading.Thread(target=handlers._resync_loop, daemon=True)
    thread.start()
    try:
        assert reconciled.wait(10.0), calls
    finally:
        stop.set()
        thread.join(5.0)
    assert calls[:2] == ["recheck", "recheck"] and not thread.is_alive()


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

    stop = threading.Event()
    monkeypatch.setattr(handlers, "unfinished_runs", unfinished_runs)
    monkeypatch.setattr(handlers, "waiting_runs", lambda _runner: [])
    monkeypatch.setitem(handlers._state, "stop", stop)
    monkeypatch.setitem(handlers._state, "runner", _Runner())
    settings = OperatorSettings(resync_seconds=0.5, full_resync_seconds=0.5)
    monkeypatch.setitem(handlers._state, "settings", settings)
    thread = threading.Thread(target=handlers._resync_loop, daemon=True)
    thread.start()
    try:
        assert listed.wait(10.0), sweeps
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive()
