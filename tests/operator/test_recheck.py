"""When a run next needs a reconcile without an event (``Decision.recheck_at``): one test per timer state.

The due time is checked against :func:`~training_hub_operator.reconcile.decide` itself: one second before
it the decision is still the waiting one, at it the timer fires (start deadline, stall).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.operator.test_reconcile_start_deadline import (
    T0,
    active,
    at,
    cond,
    inp,
    launch,
    make_run,
    pending_pod,
    running_pod,
    with_status,
)
from training_hub.timefmt import parse_time
from training_hub_operator.recheck import ALWAYS, NEVER, recheck_at
from training_hub_operator.reconcile import decide
from training_hub_operator.settings import OperatorSettings
from training_hub_operator.stall import STALL_TIMEOUT_ANNOTATION

pytestmark = pytest.mark.unit


def t(when: str) -> float:
    value = parse_time(when)
    assert value is not None
    return value


def running(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [with_status(c, active=1, ready=1, startTime=T0) if c["kind"] == "Job" else c for c in children]


def test_a_queued_run_is_due_when_its_start_deadline_fires():
    run, children = launch(make_run(startDeadlineSeconds=600))
    pods = [pending_pod("r1-a"), pending_pod("r1-node-1-b")]
    d = decide(inp(run, active(children), pods, now=at(30)))
    assert d.status["phase"] == "Queued" and d.status["pendingSince"] == T0
    assert d.recheck_at == t(at(601))
    # Not a second earlier: the deadline fails the run once more than 600 s passed.
    assert decide(inp(run, active(children), pods, now=at(600))).status["phase"] == "Queued"
    assert decide(inp(run, active(children), pods, now=at(601))).status["phase"] == "Failed"


def test_the_operator_default_deadline_applies_and_zero_turns_the_timer_off():
    run, children = launch(make_run())
    pods = [pending_pod("r1-a"), pending_pod("r1-node-1-b")]
    assert decide(inp(run, active(children), pods, now=at(30))).recheck_at == t(at(1801))
    off = OperatorSettings(start_deadline_seconds=0)
    assert decide(inp(run, active(children), pods, now=at(30), settings=off)).recheck_at == NEVER


def test_a_running_run_is_due_when_its_stall_timeout_after_the_last_step_passes():
    run, children = launch(make_run(startDeadlineSeconds=600))
    run["metadata"]["annotations"] = {STALL_TIMEOUT_ANNOTATION: "10m"}
    pods = [running_pod("r1-a"), running_pod("r1-node-1-b")]
    d = decide(inp(run, running(children), pods, now=at(60)))
    assert d.status["phase"] == "Running"
    # No step yet: the clock is the workload's start.
    start = t(d.status["startTime"])
    assert d.recheck_at == start + 600
    # A step moves it.
    run = dict(run, status=d.status | {"progress": {"step": 3, "lastStepTime": at(300)}})
    d = decide(inp(run, running(children), pods, now=at(400)))
    assert d.recheck_at == t(at(900))
    assert not any(c["type"] == "Stalled" and c["status"] == "True" for c in d.status["conditions"])
    stalled = decide(inp(run, running(children), pods, now=at(900)))
    assert cond(stalled.status, "Stalled")["reason"] == "NoProgress"
    # Marked stalled: nothing more to time (a new step changes the run, which is then reconciled).
    assert stalled.recheck_at == NEVER
    # The timeout off: never.
    run["metadata"]["annotations"] = {STALL_TIMEOUT_ANNOTATION: "off"}
    assert decide(inp(run, running(children), pods, now=at(400))).recheck_at == NEVER


def test_a_suspended_run_has_no_timer():
    run, children = launch(make_run(suspend=True))
    d = decide(inp(run, children, [], now=at(30)))
    assert d.status["phase"] == "Suspended" and d.recheck_at == NEVER


def test_an_ended_run_has_no_timer():
    run, children = launch(make_run(startDeadlineSeconds=60))
    d = decide(inp(run, children, [], now=at(61)))
    assert d.status["phase"] == "Failed" and d.recheck_at == NEVER
    assert recheck_at({"phase": "Succeeded", "completionTime": T0}, inp(run)) == NEVER


def test_states_whose_timers_are_unknown_are_always_due():
    run = make_run()
    for status in ({}, {"phase": "Pending"}, {"phase": "Planning"}, {"phase": "Queued"}):
        assert recheck_at(status, inp(run)) == ALWAYS
    # A running run without a start time or a step cannot be timed either.
    assert recheck_at({"phase": "Running"}, inp(run)) == ALWAYS
    assert ALWAYS == 0.0 and math.isinf(NEVER)
