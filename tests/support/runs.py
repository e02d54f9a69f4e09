"""TrainingRun manifests of the launch tests: tiny models, a few steps, two CPU "nodes"."""

from __future__ import annotations

from typing import Any

from tests.support.trainingruns import trainingrun

HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "sft": {"learning_rate": 0.001},
    "lora_sft": {"learning_rate": 0.005, "lora_r": 4, "lora_alpha": 8, "num_epochs": 1},
}


def tiny_run(
    name: str,
    *,
    algorithm: str = "sft",
    launcher: str = "native",
    nodes: int = 2,
    max_steps: int = 4,
    save_samples: int = 0,
    claim: str = "out",
    samples: int = 64,
    namespace: str | None = None,
    backoff_limit: int = 3,
    num_epochs: int | None = None,
) -> dict[str, Any]:
    """A TrainingRun of the tiny demo model on synthetic data (nothing is downloaded)."""
    hp = {
        "effective_batch_size": 8,
        "max_seq_len": 128,
        "max_steps": max_steps,
        "seed": 7,
        "save_samples": save_samples,
        **HYPERPARAMETERS[algorithm],
    }
    if num_epochs is not None:
        hp["num_epochs"] = num_epochs
    spec = {
        "algorithm": algorithm,
        "model": {"uri": "tiny://llama?hidden_size=32&layers=1"},
        "data": {"uri": f"tiny://messages?samples={samples}"},
        "output": {"uri": f"pvc://{claim}/{name}"},
        "hyperparameters": hp,
        "resources": {"nodes": nodes, "gpusPerNode": 0},
        "launcher": launcher,
        "backoffLimit": backoff_limit,
    }
    return trainingrun(name, spec, **({"namespace": namespace} if namespace else {}))
