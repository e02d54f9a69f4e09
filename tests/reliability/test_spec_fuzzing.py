"""Property-based fuzzing of TrainingRun specs (hypothesis, derandomized, bounded).

Every generated spec is submitted to the real API server, in batches, with the operator running. A broken
spec is either refused by the CRD schema (422) or stored and marked ``Accepted=False`` (or, for resources
that cannot fit, ``Planned=False``), with a message naming the field; a valid one is accepted. The operator
never crashes, never logs a traceback, and settles (no status rewritten in a loop).

A second, pure test feeds arbitrary JSON to the operator's validation and decision: only ``SpecError``
comes out, never another exception.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane.cluster import ControlPlane, wait_until
from tests.controlplane.operator_process import OperatorProcess
from tests.reliability.specs import Case, cases
from tests.support.trainingruns import condition_of
from training_hub_operator.api.validation import SpecError, validate_spec
from training_hub_operator.launchers.auto import LauncherChoice
from training_hub_operator.launchers.pytorchjob import PyTorchJobLauncher
from training_hub_operator.reconcile import ReconcileInput, decide

BATCH = 40
_names = itertools.count()


@pytest.fixture(scope="module")
def fuzz_env(operator_plane: ControlPlane) -> Iterator[tuple[ControlPlane, str, OperatorProcess]]:
    """A namespace and one operator for every fuzzing batch."""
    ns = operator_plane.create_namespace(f"fuzz-{int(time.time()) % 100000}")
    op = OperatorProcess(operator_plane.kubeconfig, namespaces=[ns])
    op.start()
    try:
        yield operator_plane, ns, op
    finally:
        op.stop()
        operator_plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _submit(api: client.CustomObjectsApi, ns: str, name: str, case: Case) -> str | None:
    """Create the run; return the API server's refusal message, or None if it was stored."""
    body = {"apiVersion": "traininghub.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name}}
    body["spec"] = case.spec
    try:
        api.create_namespaced_custom_object("traininghub.io", "v1alpha1", ns, "trainingruns", body)
        return None
    except ApiException as exc:
        assert exc.status == 422, (exc.status, exc.body, case)
        return str(json.loads(exc.body).get("message", ""))


def _settled(run: dict[str, Any]) -> bool:
    status = run.get("status") or {}
    return bool(status.get("phase")) and status.get("observedGeneration") == run["metadata"]["generation"]


@pytest.mark.integration
@settings(
    max_examples=5,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failing batch is reported as generated
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=st.lists(cases(), min_size=BATCH, max_size=BATCH))
def test_fuzzed_specs_are_refused_clearly_or_accepted(fuzz_env, batch: list[Case]) -> None:
    plane, ns, op = fuzz_env
    api = client.CustomObjectsApi(plane.api_client())
    stored: dict[str, Case] = {}
    for case in batch:
        name = f"fz-{next(_names):04d}"
        refusal = _submit(api, ns, name, case)
        if refusal is None:
            assert case.expect != "schema", f"the API server stored a spec its schema should refuse: {case}"
            stored[name] = case
        else:
            assert case.expect in ("schema", "operator"), f"a valid spec was refused: {refusal}\n{case}"
            assert any(p in refusal for p in case.paths), (refusal, case)

    def all_settled() -> dict[str, dict[str, Any]] | None:
        runs = api.list_namespaced_custom_object("traininghub.io", "v1alpha1", ns, "trainingruns")["items"]
        mine = {r["metadata"]["name"]: r for r in runs if r["metadata"]["name"] in stored}
        return mine if len(mine) == len(stored) and all(_settled(r) for r in mine.values()) else None

    runs = wait_until(all_settled, 120, interval=0.5, message="the operator reconciles every fuzzed run")
    for name, case in stored.items():
        run = runs[name]
        accepted = condition_of(run, "Accepted")
        assert accepted is not None, run
        message = accepted.get("message", "")
        if case.expect == "operator":
            assert accepted["status"] == "False" and accepted["reason"] == "InvalidSpec", (
                run["status"],
                case,
            )
            assert any(p in message for p in case.paths), (message, case)
            assert "Traceback" not in message and "\n" not in message
        elif case.expect == "plan":
            assert accepted["status"] == "True", (run["status"], case)
            planned = condition_of(run, "Planned")
            assert planned and planned["status"] == "False" and planned["reason"] == "DoesNotFit", run[
                "status"
            ]
            assert run["status"]["phase"] == "Failed"
        else:
            assert accepted["status"] == "True", (run["status"], case)
            assert run["status"]["phase"] == "Pending" and run["status"]["rendered"], run["status"]

    # Settled: a second look a few seconds later finds the same resourceVersions (no reconcile loop).
    time.sleep(1)
    before = {n: r["metadata"]["resourceVersion"] for n, r in (all_settled() or {}).items()}
    time.sleep(3)
    after = {n: r["metadata"]["resourceVersion"] for n, r in (all_settled() or {}).items()}
    assert before == after
    assert op.pid is not None, op.log_tail()
    log = op.log_tail(5_000_000)
    assert "Traceback" not in log, log[-6000:]


# ------------------------------------------------------------------------------------- pure, any JSON
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
SPEC_KEYS = ["algorithm", "hyperparameters", "model", "data", "output", "resources", "runtime", "launcher"]


@st.composite
def junk_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Dicts with the spec's keys (and others) holding arbitrary JSON, sometimes merged into a valid spec."""
    base: dict[str, Any] = draw(st.sampled_from([{}, _valid_spec()]))
    spec = dict(base)
    for key in draw(st.lists(st.sampled_from(SPEC_KEYS + ["extra"]), max_size=4, unique=True)):
        spec[key] = draw(JSON)
    return spec


def _valid_spec() -> dict[str, Any]:
    from tests.support.trainingruns import run_manifest

    return dict(run_manifest("x")["spec"])


@pytest.mark.unit
@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(spec=junk_specs())
def test_validation_and_decision_never_raise_on_any_json(spec: dict[str, Any]) -> None:
    try:
        validated, error = validate_spec(spec), None
    except SpecError as exc:
        validated, error = None, exc
        assert str(exc) and "Traceback" not in str(exc)
    run = {
        "apiVersion": "traininghub.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "junk", "namespace": "ns", "uid": "u1", "generation": 1},
        "spec": spec,
    }
    launcher = PyTorchJobLauncher()
    decision = decide(
        ReconcileInput(
            run=run, validated=validated, spec_error=error, choice=LauncherChoice(launcher, "Test", "")
        )
    )
    accepted = next(c for c in decision.status["conditions"] if c["type"] == "Accepted")
    assert (accepted["status"] == "False") == (error is not None)
    if error is not None:
        assert decision.creates == [] and decision.status["phase"] == "Failed"
