"""Hub callbacks through mini-trainer's ``TrainingArgs.callbacks`` (upstream's module and names; the bridge
is :mod:`training_hub.adapters.engine_bridge`'s, shared with instructlab-training)."""

from __future__ import annotations

from training_hub.adapters.engine_bridge import HubCallbackBridge as MiniTrainerCallbackBridge
from training_hub.adapters.engine_bridge import adapt_hub_callbacks

__all__ = ["MiniTrainerCallbackBridge", "adapt_hub_callbacks"]
