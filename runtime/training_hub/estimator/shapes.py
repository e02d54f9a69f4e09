"""The shape of a decoder-only model as far as memory is concerned: its linear projections, expert blocks,
layers and the whole model (value types; :func:`training_hub.estimator.param_count.model_shape` builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinearShape:
    """One ``nn.Linear`` (or one fused projection) of a layer; ``router``: an MoE router (no ``nn.Linear`` in
    the transformers release here, so neither LoRA's nor OSFT's default targets take it)."""

    name: str
    in_features: int
    out_features: int
    bias: bool
    router: bool = False

    @property
    def params(self) -> int:
        """Weight plus bias elements."""
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class MoEShape:
    """A sparse mixture-of-experts block (experts stored as 3D tensors, not ``nn.Linear``)."""

    num_experts: int
    top_k: int
    intermediate: int
    router: LinearShape
    shared_intermediate: int = 0
    shared_gate: bool = False

    @property
    def expert_params(self) -> int:
        """Elements of the stacked expert tensors (gate+up and down)."""
        return self.num_experts * 3 * self.router.in_features * self.intermediate


@dataclass
class LayerShape:
    """One decoder layer."""

    linears: list[LinearShape]
    norm_params: int
    num_norms: int
    intermediate: int  # dense MLP width (0 when the layer's MLP is a pure MoE block)
    gated_mlp: bool
    moe: MoEShape | None = None
    qk_norm: str | None = None  # None, "head" (per head_dim) or "full" (whole projection)

    @property
    def params(self) -> int:
        """All parameter elements of the layer."""
        moe = self.moe.expert_params if self.moe else 0
        return sum(lin.params for lin in self.linears) + self.norm_params + moe


@dataclass
class ModelShape:
    """A whole decoder-only causal LM, as far as memory is concerned."""

    model_type: str
    hidden: int
    vocab: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tied_embeddings: bool
    layers: list[LayerShape]
    final_norm_params: int
    norm_kind: str  # "rms" or "layer"
    lm_head_bias: bool = False
    final_logit_softcapping: bool = False
    extra_params: int = 0  # parameters outside the analytic layout (meta-device fallback only)
    notes: list[str] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        """Number of decoder layers."""
        return len(self.layers)

    @property
    def embedding_params(self) -> int:
        """Input embedding elements."""
        return self.vocab * self.hidden

    @property
    def lm_head_params(self) -> int:
        """Output head elements not shared with the embedding."""
        weight = 0 if self.tied_embeddings else self.vocab * self.hidden
        return weight + (self.vocab if self.lm_head_bias else 0)

    @property
    def total_params(self) -> int:
        """Every parameter element (tied weights once), as ``model.num_parameters()``."""
        return (
            self.embedding_params
            + self.lm_head_params
            + self.final_norm_params
            + sum(layer.params for layer in self.layers)
            + self.extra_params
        )

    def linears(self) -> list[LinearShape]:
        """Every linear projection of every layer (the targets of LoRA and OSFT)."""
        return [lin for layer in self.layers for lin in layer.linears]
