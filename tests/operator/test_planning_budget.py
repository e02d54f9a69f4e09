"""Planning one run is bounded in time: past the operator's budget it ends with ``Planned=False``,
reason ``PlanningTimeout``, and nothing is created."""

from __future__ import annotations

import dataclasses

import pytest

from tests.operator.test_reconcile import _inp
from tests.support.trainingruns import run_manifest
from training_hub.estimator import EstimateInputs, PlanningBudgetExceeded, plan
from training_hub_operator.main import build_parser, settings_from_args
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


def _run(name: str) -> dict:
    run = run_manifest(name)  # an 8B model on 80Gi GPUs: one GPU does not fit, the planner searches on
    run["metadata"].update({"namespace": "ns", "uid": f"uid-{name}", "generation": 1})
    run["status"] = {}
    return run


def test_a_run_whose_planning_exceeds_the_budget_fails_with_planning_timeout() -> None:
    from training_hub_operator.reconcile import decide

    tight = OperatorSettings(planning_budget_seconds=1e-9)  # the budget is gone after the first layout
    decision = decide(dataclasses.replace(_inp(_run("slow")), settings=tight))
    planned = next(c for c in decision.status["conditions"] if c["type"] == "Planned")
    assert (planned["status"], planned["reason"]) == ("False", "PlanningTimeout"), planned
    assert "budget of 1e-09 s" in planned["message"] and "--planning-budget-seconds" in planned["message"]
    assert decision.status["phase"] == "Failed" and not decision.creates
    assert any(e[1] == "PlanningTimeout" for e in decision.events), decision.events

    # The default budget plans the same run (a plan takes milliseconds).
    ok = decide(_inp(_run("fast")))
    planned = next(c for c in ok.status["conditions"] if c["type"] == "Planned")
    assert planned["status"] == "True" and ok.creates


def test_the_budget_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings().planning_budget_seconds == 10.0
    monkeypatch.setenv("TRAINING_HUB_PLANNING_BUDGET_SECONDS", "2.5")
    assert settings_from_args(build_parser().parse_args([])).planning_budget_seconds == 2.5
    args = build_parser().parse_args(["--planning-budget-seconds", "0"])
    assert settings_from_args(args).planning_budget_seconds == 0


def test_the_estimators_planner_checks_its_budget_between_layouts() -> None:
    from tests.support.model_configs import LLAMA_8B_CONFIG

    inputs = EstimateInputs.from_training_params("sft", {"max_tokens_per_gpu": 8192}, LLAMA_8B_CONFIG)
    with pytest.raises(PlanningBudgetExceeded) as err:
        plan(inputs, 80 * 1024**3, budget_seconds=0.0)
    assert err.value.layouts == 1 and err.value.budget_seconds == 0.0
    assert plan(inputs, 80 * 1024**3, budget_seconds=None).fits
