"""Hub callbacks through instructlab-training's ``TrainingArgs.callbacks``: upstream's module and names for
the bridge both torchrun engines share (:mod:`training_hub.adapters.engine_bridge`, which says why one
class serves both)."""

from __future__ import annotations

from training_hub.adapters.engine_bridge import HubCallbackBridge as InstructLabCallbackBridge
from training_hub.adapters.engine_bridge import adapt_hub_callbacks

__all__ = ["InstructLabCallbackBridge", "adapt_hub_callbacks"]
