"""Rendered objects are checked with Kubernetes' validation rules before any create (``objectcheck``)."""

from __future__ import annotations

import pytest

from tests.operator.test_reconcile import _inp, _run
from training_hub_operator import objectcheck
from training_hub_operator.reconcile import decide

pytestmark = pytest.mark.unit


#: apimachinery's cases per rule (``k8s.io/apimachinery/pkg/util/validation`` for names and label values,
#: ``resource.ParseQuantity`` for quantities): the value, and whether the rule accepts it.
RULE_CASES: dict[str, list[tuple[object, bool]]] = {
    "qualified_name": [
        ("app", True),
        ("traininghub.io/run", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("example.com/" + "a" * 63, True),
        ("Example.com/x", False),  # the prefix is a DNS subdomain: lower case
        ("x/y/z", False),
        ("/x", False),
        ("-x", False),
        ("bad key", False),
    ],
    "label_value": [
        ("", True),
        ("v1.2_3-x", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-x", False),
        ("a b", False),
    ],
    "quantity": [
        ("8Gi", True),
        ("500m", True),
        ("1.5", True),
        ("1e3", True),
        (4, True),
        ("8GB", False),
        ("lots", False),
        ("1..2", False),
        ("", False),
    ],
}


@pytest.mark.parametrize(
    ("rule", "value", "ok"), [(rule, value, ok) for rule, cases in RULE_CASES.items() for value, ok in cases]
)
def test_values_follow_apimachinery(rule: str, value: object, ok: bool) -> None:
    assert (getattr(objectcheck, rule)(value) is None) is ok


def test_names_by_kind() -> None:
    assert objectcheck.check_object({"kind": "ConfigMap", "metadata": {"name": "a.b-c"}}) == []
    # Services are DNS-1035 labels: no dots, no leading digit.
    assert objectcheck.check_object({"kind": "Service", "metadata": {"name": "a.b"}})
    assert objectcheck.check_object({"kind": "Service", "metadata": {"name": "1ab"}})


def test_nested_pod_templates_are_checked() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "r1"},
        "spec": {
            "template": {
                "metadata": {"labels": {"team": "x" * 300}},
                "spec": {
                    "nodeSelector": {"pool": "a b"},
                    "containers": [
                        {"name": "Main", "resources": {"limits": {"memory": "8GB"}}, "env": [{"name": "1X"}]}
                    ],
                },
            }
        },
    }
    problems = objectcheck.check_object(job)
    text = " ".join(problems)
    assert "spec.template.metadata.labels[team]" in text and "must be no more than 63 characters" in text
    assert "(300 characters)" in text  # the value is shortened, never pasted in full
    assert "spec.template.spec.nodeSelector[pool]" in text
    assert "spec.template.spec.containers[0].name" in text
    assert "spec.template.spec.containers[0].resources.limits[memory]" in text
    assert "spec.template.spec.containers[0].env[0].name" in text
    assert len(problems) == 5


def test_annotations_total_size() -> None:
    big = {"kind": "ConfigMap", "metadata": {"name": "x", "annotations": {"a": "x" * (256 * 1024)}}}
    assert any("Too long" in p for p in objectcheck.check_object(big))


def test_every_rendered_object_of_a_valid_run_passes() -> None:
    for launcher in ("native", "pytorchjob", "trainjob"):
        decision = decide(
            _inp(
                _run(launcher=launcher, runtime={"image": "r/x:1", "labels": {"team": "nlp"}}),
                served=lambda kind: True,  # both Kubeflow APIs served: each launcher renders
            )
        )
        assert decision.creates, decision.status
        assert objectcheck.check_objects([obj for _, obj in decision.creates]) is None


def test_a_run_whose_objects_would_be_refused_is_not_accepted_and_creates_nothing() -> None:
    run = _run(launcher="native", runtime={"image": "r/x:1", "labels": {"team": "x" * 300}})
    decision = decide(_inp(run))
    assert decision.creates == []
    conds = {c["type"]: c for c in decision.status["conditions"]}
    assert conds["Accepted"]["status"] == "False" and conds["Accepted"]["reason"] == "InvalidObject"
    assert "labels[team]" in conds["Accepted"]["message"] and "63 characters" in conds["Accepted"]["message"]
    assert decision.status["phase"] == "Failed" and "completionTime" not in decision.status
    assert ("Warning", "InvalidObject") in {(t, r) for t, r, _ in decision.events}


def test_a_create_the_api_server_refused_is_not_retried_for_the_same_generation() -> None:
    from training_hub_operator.reconcile import create_refused

    run = _run(launcher="native", runtime={"image": "r/x:1"})
    inp = _inp(run)
    first = decide(inp)
    api = 'Job.batch "r1" is invalid: spec.template.spec.tolerations[0].operator: Invalid value: "Exists"'
    refused = objectcheck.CreateRefused("Job", "r1", f"422: {api}", [])
    decision = create_refused(inp, first, refused)
    conds = {c["type"]: c for c in decision.status["conditions"]}
    assert conds["Accepted"]["reason"] == "CreateRefused" and api in conds["Accepted"]["message"]
    assert decision.status["phase"] == "Failed" and "workload" not in decision.status
    assert "Queued" not in conds and "Launched" not in {r for _, r, _ in decision.events}
    again = decide(_inp(dict(run, status=decision.status)))
    assert again.creates == [] and again.events == [] and again.status["phase"] == "Failed"
    # A changed spec (new generation) is tried again.
    edited = _run(launcher="native", runtime={"image": "r/x:2"}, generation=2)
    assert decide(_inp(dict(edited, status=decision.status))).creates
