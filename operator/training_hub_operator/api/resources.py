"""Compute for a run (``spec.resources``): what the user fixed and the bounds the planner chooses within."""

from __future__ import annotations

from pydantic import Field

from training_hub.contracts.wire import WireModel
from training_hub_operator.api.patterns import Quantity


class ResourcesSpec(WireModel):
    """Compute for the run. Every field is optional: the planner fills what is missing from the model's size."""

    nodes: int | None = Field(default=None, ge=1, le=1024, description="Number of nodes (pods) to train on.")
    gpus_per_node: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="GPUs per node (`nvidia.com/gpu`); 0 trains on CPU (small models).",
    )
    max_nodes: int = Field(default=8, ge=1, le=1024, description="Largest node count the planner may choose.")
    max_gpus_per_node: int = Field(
        default=8, ge=1, le=64, description="Largest GPUs per node the planner may choose."
    )
    gpu_memory: Quantity | None = Field(
        default=None,
        description="Memory of one GPU (e.g. `80Gi`), used by the planner. Derived from `gpuProduct` if unset.",
    )
    gpu_product: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description=(
            "GPU product name as published by GPU feature discovery (e.g. `NVIDIA-A100-SXM4-80GB`); "
            "selects nodes through the `nvidia.com/gpu.product` label and tells the planner the memory."
        ),
    )
    cpu: Quantity | None = Field(default=None, description="CPU request and limit per pod.")
    memory: Quantity | None = Field(default=None, description="Memory request and limit per pod.")
    shm_size: Quantity = Field(default="8Gi", description="Size of the memory-backed /dev/shm of each pod.")

    @property
    def fixed(self) -> bool:
        """Whether the user fixed the shape (nodes and GPUs per node), so nothing is planned."""
        return self.nodes is not None and self.gpus_per_node is not None
