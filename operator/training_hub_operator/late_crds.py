"""Serve a workload kind whose CRD is installed after the operator started, despite discovery's lag.

kopf (1.45.2, ``kopf/_core/reactor/observation.py``) lists CRDs once, then watches them; on each CRD event
(``process_discovered_resource_event``) it re-reads API discovery for the CRD's group (``GET /apis``, ``GET
/apis/<group>/<version>``) and starts watching the resources it finds there. The API server publishes a new
CRD in discovery a moment after the CRD's last event (``Established``): its discovery controller runs
asynchronously (kubernetes/kubernetes#130235 describes the race), so kopf's last re-read finds nothing and no
later event makes it read again. On Kubernetes 1.20 here the PyTorchJob CRD installed after the start was
never watched (``tests/operator/test_late_crds_integration.py``).

:func:`install` wraps kopf's handler of CRD events: for a CRD of a kind this operator watches, once it is
``Established``, it re-reads discovery after a short back-off until kopf watches the kind (a few requests,
only when such a CRD changes). Where kopf's internals differ (another version), nothing is wrapped and a
warning says so: the kind is then watched after the operator restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from training_hub_operator.api.conditions import is_true

log = logging.getLogger("training_hub_operator")

#: Seconds between the re-reads of discovery after an ``Established`` CRD event (about 15 s in all).
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)

Rescan = Callable[..., Awaitable[None]]


def established(crd: dict[str, Any]) -> bool:
    """Whether a CRD's status says ``Established=True`` (its resources are served)."""
    return is_true((crd.get("status") or {}).get("conditions"), "Established")


def rescan_until_watched(
    rescan: Rescan, kinds: Collection[tuple[str, str]], delays: Collection[float] = RETRY_DELAYS
) -> Rescan:
    """kopf's CRD event processor ``rescan``, followed, for an established CRD of one of ``kinds``
    (``(group, plural)``), by more rescans after ``delays`` until kopf watches the kind."""

    async def processor(*, raw_event: Any, insights: Any, **kwargs: Any) -> None:
        await rescan(raw_event=raw_event, insights=insights, **kwargs)
        crd = raw_event.get("object") or {}
        spec = crd.get("spec") or {}
        kind = (str(spec.get("group")), str((spec.get("names") or {}).get("plural")))
        if raw_event.get("type") in (None, "DELETED") or kind not in kinds or not established(crd):
            return

        def watched() -> bool:
            return any((r.group, r.plural) == kind for r in insights.watched_resources)

        for delay in delays:
            if watched():
                return
            await asyncio.sleep(delay)
            await rescan(raw_event=raw_event, insights=insights, **kwargs)
        if not watched():
            log.warning("%s/%s is established but not in API discovery: not watched yet", *kind)

    return processor


def install(kinds: Collection[tuple[str, str]]) -> bool:
    """Wrap kopf's CRD event processor (see the module's docstring); False when kopf has none to wrap."""
    import importlib

    try:
        observation: Any = importlib.import_module("kopf._core.reactor.observation")
    except ImportError:
        observation = None
    original = getattr(observation, "process_discovered_resource_event", None)
    if original is None or getattr(original, "_training_hub", False):
        if original is None:
            log.warning(
                "kopf has no CRD event processor to wrap: CRDs installed later are watched after a restart"
            )
        return original is not None
    wrapped = rescan_until_watched(original, frozenset(kinds))
    wrapped._training_hub = True  # type: ignore[attr-defined]
    observation.process_discovered_resource_event = wrapped
    return True
