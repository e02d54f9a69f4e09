"""The signature a waiting run's re-check compares: equal states compare equal, and the common "nothing
seen" state is one shared tuple (one per launched run would be kept for every waiting run)."""

from __future__ import annotations

import pytest

from training_hub_operator.waiting import NOTHING_SEEN, signature

pytestmark = pytest.mark.unit


def _pod(name: str, rv: str) -> dict[str, object]:
    return {"metadata": {"name": name, "resourceVersion": rv}}


def test_no_pods_and_no_failures_is_the_shared_signature() -> None:
    assert signature([], [], "uid-1", 2) is NOTHING_SEEN
    assert signature([], [], "uid-2", 1) is NOTHING_SEEN


def test_a_pod_or_its_new_version_changes_the_signature() -> None:
    one = signature([_pod("p-0", "5")], [], "uid-1", 1)
    assert one != NOTHING_SEEN and one == signature([_pod("p-0", "5")], [], "uid-1", 1)
    assert one != signature([_pod("p-0", "6")], [], "uid-1", 1)


def test_a_create_failure_of_the_workload_changes_the_signature_while_pods_are_missing() -> None:
    event = {
        "metadata": {"name": "e1"},
        "reason": "FailedCreate",
        "count": 3,
        "lastTimestamp": "t",
        "involvedObject": {"uid": "uid-1"},
    }
    assert signature([], [event], "uid-1", 1) == ((), (("e1", "3", "t"),))
    assert signature([], [event], "uid-other", 1) is NOTHING_SEEN
