"""Fault injection for restart tests: stop the operator at a named point of a reconcile.

``TRAINING_HUB_OPERATOR_FAULT=<point>`` makes the operator log ``fault-injection: paused at <point>`` and
sleep when it reaches that point (the test then kills it by pid); ``...=<point>:exit`` exits at once with
code 137 instead, as if killed. Points: ``created-service``, ``created-pytorchjob`` (``created-<kind>``
in general), ``before-status``. Unset (the default) it does nothing.
"""

from __future__ import annotations

import logging
import os
import time

ENV = "TRAINING_HUB_OPERATOR_FAULT"
log = logging.getLogger("training_hub_operator.faults")


def checkpoint(point: str) -> None:
    """Pause or exit here if the fault-injection variable names this point."""
    spec = os.environ.get(ENV, "")
    if not spec:
        return
    target, _, action = spec.partition(":")
    if target != point:
        return
    log.warning("fault-injection: paused at %s", point)
    for h in logging.getLogger().handlers:
        h.flush()
    print(f"fault-injection: paused at {point}", flush=True)
    if action == "exit":
        os._exit(137)
    while True:  # until killed
        time.sleep(3600)
