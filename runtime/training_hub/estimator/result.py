"""What an estimate answers: ``(low, expected, high)`` with its per-component breakdown and its assumptions."""

from __future__ import annotations

from pydantic import BaseModel, Field

ESTIMATOR_VERSION = "1.1.0"
GIB = 1024**3


class MemoryBreakdown(BaseModel):
    """Per-GPU bytes of each component of the expected estimate."""

    parameters: int
    gradients: int
    optimizer_states: int
    activations: int
    logits: int
    overhead: int
    details: dict[str, int] = Field(default_factory=dict)

    @property
    def total(self) -> int:
        """Sum of the components (the expected estimate)."""
        return sum(self.components().values())

    def components(self) -> dict[str, int]:
        """The six components by name."""
        return {
            "parameters": self.parameters,
            "gradients": self.gradients,
            "optimizer_states": self.optimizer_states,
            "activations": self.activations,
            "logits": self.logits,
            "overhead": self.overhead,
        }


class Assumptions(BaseModel):
    """What the estimate assumed, stated so a reader can check it."""

    training_method: str
    model_type: str
    dtype: str
    parameter_bytes: float
    gradient_bytes: int
    optimizer: str
    sharding: str
    num_gpus: int
    tokens_per_gpu: int
    activation_checkpointing: bool
    liger: bool
    device: str
    total_parameters: int
    trainable_parameters: int
    engine: str = "generic"
    engine_assumptions: list[str] = Field(default_factory=list)
    estimator_version: str = ESTIMATOR_VERSION
    notes: list[str] = Field(default_factory=list)


class MemoryEstimate(tuple[int, int, int]):
    """``(low, expected, high)`` bytes per GPU, carrying ``.breakdown`` and ``.assumptions``."""

    breakdown: MemoryBreakdown
    assumptions: Assumptions

    def __new__(
        cls, low: int, expected: int, high: int, breakdown: MemoryBreakdown, assumptions: Assumptions
    ) -> MemoryEstimate:
        obj = super().__new__(cls, (low, expected, high))
        obj.breakdown = breakdown
        obj.assumptions = assumptions
        return obj

    @property
    def low(self) -> int:
        """Lower bound: the components without fragmentation."""
        return self[0]

    @property
    def expected(self) -> int:
        """The expected per-GPU peak."""
        return self[1]

    @property
    def high(self) -> int:
        """Upper bound."""
        return self[2]

    def fits(self, gpu_memory_bytes: int, headroom: float = 0.0) -> bool:
        """Whether the expected estimate fits ``gpu_memory_bytes`` minus a headroom fraction."""
        return self.expected <= gpu_memory_bytes * (1.0 - headroom)
