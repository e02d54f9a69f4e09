"""Upstream's module path of the GRPO reward functions (``training_hub.algorithms.rewards``); they are
defined in :mod:`training_hub.rewards`."""

from training_hub.rewards import binary_reward, tool_call_reward

__all__ = ["binary_reward", "tool_call_reward"]
