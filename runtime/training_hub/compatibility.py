"""What this package provides of upstream training_hub 0.11.2's public API, and where it differs on purpose.

``docs/compatibility.md`` is the readable form; ``tests/compat`` checks both against the published sdist
(its exports and its functions' keywords, read with ``ast``) and gives each difference a named test.
"""

from __future__ import annotations

#: The upstream release this package is a drop-in for.
UPSTREAM_VERSION = "0.11.2"

#: Upstream exports not provided here, with the reason.
NOT_PROVIDED: dict[str, str] = {
    "lora_grpo": "GRPO (reinforcement learning through ART/vLLM or VeRL) is not part of this project",
    "grpo": "alias of lora_grpo",
    "LoRAGRPOAlgorithm": "see lora_grpo",
    "ARTLoRAGRPOBackend": "see lora_grpo",
    "VeRLLoRAGRPOBackend": "see lora_grpo",
    "gepa": "GEPA prompt optimisation (DSPy/MLflow) is not training and not part of this project",
    "GEPAAlgorithm": "see gepa",
    "GEPABackend": "see gepa",
    "MLflowGEPABackend": "see gepa",
    "tool_call_reward": "a GRPO reward function: see lora_grpo",
    "binary_reward": "a GRPO reward function: see lora_grpo",
    "ITSRollout": "inference-time scaling rollouts (vLLM serving) are not training",
    "JITCheckpointCallback": (
        "the engine checkpoints on SIGTERM itself (enable_jit_checkpoint); no callback to add"
    ),
    "RemoteCheckpointSyncCallback": "the engine mirrors to checkpoint_storage itself; no callback to add",
}

#: Upstream names whose behaviour here differs on purpose (each has a named test in tests/compat).
DIFFERENCES: dict[str, str] = {
    "backend": (
        "default `auto` (upstream: the CUDA engine): the upstream engine when it is installed and CUDA is "
        "present, else the portable backend"
    ),
    "**kwargs": (
        "unknown keywords are errors naming the closest parameters (upstream passes them to the engine)"
    ),
    "accelerate_full_state_at_epoch": (
        "native: the resumable full state is saved with every checkpoint whatever the value"
    ),
    "sample_packing": (
        "native/peft: always packed padding-free with per-sample attention, so both values train the same"
    ),
    "logging_steps": "native/peft: the metrics file and trackers get every step",
    "enable_jit_checkpoint": "native: unset means on (upstream: off); false turns it off",
    "trust_remote_code": (
        "native/peft: true is an error (built-in architectures only); estimate: accepted, nothing runs"
    ),
    "pretraining role": (
        "a `messages` sample with the legacy `pretraining` role trains every role but system, rendered by "
        "the chat template"
    ),
}
