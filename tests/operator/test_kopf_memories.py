"""kopf's per-object memories are not kept while the operator registers watch-event handlers only."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest
from kopf._core.reactor.inventory import ResourceMemories

from training_hub_operator import handlers  # noqa: F401  (registers the operator's handlers)
from training_hub_operator.kopf_memories import EventOnlyMemories, memories, needs_lasting_memories

pytestmark = pytest.mark.unit


def _recall_twice(store: ResourceMemories) -> tuple[Any, Any]:
    body: Any = {"metadata": {"uid": "6f0c1c1e-0000-4000-8000-000000000001", "name": "a", "namespace": "ns"}}

    async def go() -> tuple[Any, Any]:
        return await store.recall(body), await store.recall(body, noticed_by_listing=True)

    return asyncio.run(go())


def test_the_operators_registry_has_watch_event_handlers_only() -> None:
    registry = kopf.get_default_registry()
    assert registry._watching.get_all_handlers()  # the run and child watches
    assert needs_lasting_memories(registry) == []
    assert isinstance(memories(registry), EventOnlyMemories)


def test_event_only_memories_keep_no_record_where_kopfs_default_keeps_one_per_object() -> None:
    default = ResourceMemories()
    first, again = _recall_twice(default)
    assert first is again and len(default._items) == 1  # kopf's default: one record until DELETED

    event_only = EventOnlyMemories()
    first, again = _recall_twice(event_only)
    assert first is not again and event_only._items == {}
    assert again.noticed_by_listing and not first.noticed_by_listing  # each event's own record


@pytest.mark.parametrize(
    ("register", "needs"),
    [
        (
            lambda r: kopf.on.create("traininghub.io", "v1alpha1", "trainingruns", registry=r),
            "change handlers",
        ),
        (
            lambda r: kopf.timer("traininghub.io", "v1alpha1", "trainingruns", interval=1, registry=r),
            "daemons and timers",
        ),
        (lambda r: kopf.index("traininghub.io", "v1alpha1", "trainingruns", registry=r), "indexes"),
    ],
)
def test_a_handler_that_needs_lasting_records_keeps_kopfs_default(register: Any, needs: str) -> None:
    registry = kopf.OperatorRegistry()
    kopf.on.event("traininghub.io", "v1alpha1", "trainingruns", registry=registry)(lambda **_: None)
    assert needs_lasting_memories(registry) == []
    register(registry)(lambda **_: None)
    assert needs_lasting_memories(registry) == [needs]
    assert memories(registry) is None
