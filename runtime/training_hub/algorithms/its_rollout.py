"""Upstream's module path of :class:`ITSRollout` (``training_hub.algorithms.its_rollout``), which its example
scripts import; the class is :class:`training_hub.algorithms.unsupported.ITSRollout`."""

from training_hub.algorithms.unsupported import ITSRollout

__all__ = ["ITSRollout"]
