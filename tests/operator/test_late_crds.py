"""kopf's CRD event processor, wrapped: rescans until a late CRD's kind is watched."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from training_hub_operator.late_crds import established, rescan_until_watched

pytestmark = pytest.mark.unit

KIND = ("kubeflow.org", "pytorchjobs")


def _event(
    type_: str | None, conditions: list[dict[str, str]], group: str = "kubeflow.org"
) -> dict[str, Any]:
    crd = {"spec": {"group": group, "names": {"plural": "pytorchjobs"}}, "status": {"conditions": conditions}}
    return {"type": type_, "object": crd}


ESTABLISHED = [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]


def _run(event: dict[str, Any], served_after: int) -> tuple[list[float], int]:
    """Process ``event`` with a rescan that finds the kind in discovery from its ``served_after``-th call."""
    insights = SimpleNamespace(watched_resources=set())
    calls = [0]
    slept: list[float] = []

    async def rescan(*, raw_event: Any, insights: Any, **_: Any) -> None:
        calls[0] += 1
        if calls[0] >= served_after:
            insights.watched_resources.add(kopf.Resource(KIND[0], "v1", KIND[1]))

    async def main() -> None:
        real_sleep = asyncio.sleep

        async def sleep(delay: float) -> None:
            slept.append(delay)
            await real_sleep(0)

        asyncio.sleep = sleep  # type: ignore[assignment]
        try:
            await rescan_until_watched(rescan, {KIND}, delays=(0.5, 1.0, 2.0))(
                raw_event=event, insights=insights, settings=None
            )
        finally:
            asyncio.sleep = real_sleep  # type: ignore[assignment]

    asyncio.run(main())
    return slept, calls[0]


def test_an_established_crd_is_rescanned_until_its_kind_is_watched() -> None:
    assert _run(_event("MODIFIED", ESTABLISHED), served_after=3) == ([0.5, 1.0], 3)


def test_rescans_stop_after_the_last_delay() -> None:
    assert _run(_event("MODIFIED", ESTABLISHED), served_after=99) == ([0.5, 1.0, 2.0], 4)


@pytest.mark.parametrize(
    "event",
    [
        _event("ADDED", []),  # not established yet: its Established event comes later
        _event("DELETED", ESTABLISHED),
        _event(None, ESTABLISHED),  # kopf's initial listing
        _event("MODIFIED", ESTABLISHED, group="example.com"),  # not a kind the operator watches
    ],
)
def test_other_crd_events_get_kopfs_one_rescan(event: dict[str, Any]) -> None:
    assert _run(event, served_after=99) == ([], 1)


def test_established_reads_the_condition() -> None:
    assert established({"status": {"conditions": ESTABLISHED}})
    assert not established({"status": {"conditions": [{"type": "Established", "status": "False"}]}})
    assert not established({})
