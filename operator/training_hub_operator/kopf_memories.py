"""kopf's per-object memories, not kept: the operator's handlers are watch-event handlers only.

kopf keeps a ``ResourceMemory`` for every object of a watched kind it has seen (``kopf/_core/reactor/
inventory.py``, kopf 1.45), from its first event until its ``DELETED`` event: every TrainingRun, and every
workload and Job of the kinds the operator watches (label filters apply after the record is made). One
record is ~1.1 KiB (its memo, error throttler, indexing and daemons records and the uid key): ~22 MiB at
10,000 runs with their PyTorchJobs, for the life of the runs. What the records serve is what this
operator does not register: daemons and timers (the running daemons of an object), indexes (an object's
indexing back-off), resumable change handlers (``noticed_by_listing``, ``fully_handled_once``) and
patches carried to the next event (``remaining_patch``, none without change handlers). A watch-event
handler needs only the error throttler of the event in hand (a processing error sleeps that object's
worker before its next event; kopf's ``throttled`` does the sleeping within the same event).

:func:`memories` gives kopf a :class:`~kopf._core.reactor.inventory.ResourceMemories` that hands out a
fresh record for each event and keeps none (kopf's own ``ephemeral`` records, made for admission webhooks
of objects not yet created), but only while the registry holds nothing that needs a record to last
(:func:`needs_lasting_memories`); otherwise kopf's default.
"""

from __future__ import annotations

from typing import Any

from kopf._core.intents.registries import GenericRegistry, OperatorRegistry
from kopf._core.reactor.inventory import ResourceMemories, ResourceMemory


class EventOnlyMemories(ResourceMemories):
    """kopf's memories that remember no object: each event's record is new and forgotten after it."""

    async def recall(
        self,
        raw_body: Any,
        *,
        memobase: Any = None,
        noticed_by_listing: bool = False,
        ephemeral: bool = False,
    ) -> ResourceMemory:
        """A fresh record for this event (kopf's ``ephemeral`` recall: not stored)."""
        return await super().recall(
            raw_body, memobase=memobase, noticed_by_listing=noticed_by_listing, ephemeral=True
        )


def needs_lasting_memories(registry: OperatorRegistry) -> list[str]:
    """What in ``registry`` needs kopf's records to outlive an event: change handlers (create, update,
    resume, delete...), daemons and timers, indexes, admission webhooks. Empty: watch events only."""
    parts: dict[str, GenericRegistry[Any]] = {
        "change handlers": registry._changing,
        "daemons and timers": registry._spawning,
        "indexes": registry._indexing,
        "webhooks": registry._webhooks,
    }
    return [name for name, part in parts.items() if part.get_all_handlers()]


def memories(registry: OperatorRegistry) -> ResourceMemories | None:
    """The memories for ``kopf.run``: :class:`EventOnlyMemories` when the registry has watch-event handlers
    only, else None (kopf's default, which keeps a record per object)."""
    return None if needs_lasting_memories(registry) else EventOnlyMemories()
