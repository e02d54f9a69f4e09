"""Measure the real memory of one training step on CPU, component by component.

This is the ground truth the estimator is checked against (``benchmarks/estimator_accuracy.py`` and the
``integration`` test in ``tests/runtime/estimator/test_measure_accuracy.py``). It does not use the training engine: it builds a tiny
model with transformers, applies the method (full fine-tuning, LoRA through peft, or OSFT's SVD split
written here), runs forward + backward + one AdamW step, and counts bytes:

* parameters, gradients and optimizer states: unique tensor storages after a step;
* activations and logits: unique storages that autograd saves for backward during the next forward
  (``torch.autograd.graph.saved_tensors_hooks``), minus storages that are parameters; the logits tensor
  itself is counted too (it is alive until the loss is backpropagated).
* with ``activation_checkpointing``: each saved storage is attributed to the decoder layer running when
  it was saved (forward pre/post hooks), and each layer's input is measured; what checkpointing keeps is
  then the storages saved outside the layers, every layer's input, and the largest layer's own saved
  storages (the one layer recomputed at a time in backward).

torch, transformers and peft are imported inside the functions: importing this module is cheap, but
only :mod:`training_hub.estimator` (which never imports this module) is torch-free by contract.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from training_hub.defaults import OSFT_TARGETS
from training_hub.estimator.components import osft_trainable_rank


@dataclass
class Measurement:
    """Bytes measured for one (model, method, tokens) row."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    logits: int
    num_parameters: int
    trainable_parameters: int

    @property
    def total(self) -> int:
        """Sum of every measured component."""
        return self.parameters + self.gradients + self.optimizer + self.activations + self.logits

    def as_dict(self) -> dict[str, int]:
        """Components and total as a plain dict."""
        return {**asdict(self), "total": self.total}


def _osft_linear_class() -> Any:
    import torch
    from torch import nn

    class OSFTLinear(nn.Module):
        """A linear layer split by SVD into a frozen top subspace and a trainable bottom one.

        ``W = U_high diag(S_high) V_high + U_low diag(S_low) V_low``; the weight is rebuilt in every
        forward (as the OSFT engines do), so it is saved for backward like an activation.
        """

        def __init__(self, linear: nn.Linear, unfreeze_rank_ratio: float) -> None:
            super().__init__()
            weight = linear.weight.detach()
            u, s, vh = torch.linalg.svd(weight, full_matrices=False)
            k_low = osft_trainable_rank(weight.shape[0], weight.shape[1], unfreeze_rank_ratio)
            k_high = s.shape[0] - k_low
            self.U_high = nn.Parameter(u[:, :k_high].contiguous(), requires_grad=False)
            self.S_high = nn.Parameter(s[:k_high].contiguous(), requires_grad=False)
            self.V_high = nn.Parameter(vh[:k_high].contiguous(), requires_grad=False)
            self.U_low = nn.Parameter(u[:, k_high:].contiguous())
            self.S_low = nn.Parameter(s[k_high:].contiguous())
            self.V_low = nn.Parameter(vh[k_high:].contiguous())
            self.bias = linear.bias

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                high = self.U_high @ (self.S_high[:, None] * self.V_high)
            weight = high + (self.U_low * self.S_low) @ self.V_low
            return nn.functional.linear(x, weight, self.bias)

    return OSFTLinear


def apply_method(model: Any, method: str, *, unfreeze_rank_ratio: float = 0.25, lora_r: int = 32) -> Any:
    """Prepare ``model`` for ``method`` (``sft``, ``osft`` or ``lora``) and return the model to train."""
    from torch import nn

    if method == "sft":
        return model
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        # The engine's default (``all-linear``): every nn.Linear of the decoder layers, named explicitly, since
        # peft 0.21's "all-linear" also wraps MoE routers and 3D expert tensors, which the estimator does not
        # model (see docs/estimator.md); on dense models the two are the same modules.
        targets = sorted(
            {
                name.rsplit(".", 1)[-1]
                for name, mod in model.named_modules()
                if isinstance(mod, nn.Linear) and not name.endswith("lm_head")
            }
        )
        cfg = LoraConfig(r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0, target_modules=targets)
        return get_peft_model(model, cfg)
    if method == "osft":
        osft_linear = _osft_linear_class()
        patterns = OSFT_TARGETS.patterns  # what the engine decomposes by default (engine/osft.py)
        for name, module in list(model.named_modules()):
            for child_name, child in list(module.named_children()):
                qualified = f"{name}.{child_name}" if name else child_name
                if (
                    isinstance(child, nn.Linear)
                    and any(pattern in qualified for pattern in patterns)
                    and not qualified.endswith("lm_head")
                ):
                    setattr(module, child_name, osft_linear(child, unfreeze_rank_ratio))
        return model
    raise ValueError(f"unknown method {method!r}: choose sft, osft or lora")


def build_tiny_model(config: dict[str, Any], seed: int = 0) -> Any:
    """Instantiate a randomly initialised causal LM (fp32, CPU, SDPA attention) from a config dict."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(config)
    model_type = values.pop("model_type")
    cfg = AutoConfig.for_model(model_type, **values)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa", dtype=torch.float32)


def _storage_key(t: Any) -> tuple[int, int]:
    storage = t.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


def measure_training_step(
    config: dict[str, Any],
    method: str,
    tokens: int,
    *,
    unfreeze_rank_ratio: float = 0.25,
    lora_r: int = 32,
    seed: int = 0,
    activation_checkpointing: bool = False,
) -> Measurement:
    """Run forward + backward + AdamW on one packed sequence of ``tokens`` tokens and count bytes.

    Args:
        config: A transformers config as a dict with ``model_type`` (tiny dimensions).
        method: ``sft``, ``osft`` or ``lora``.
        tokens: Tokens in the micro-batch (one padding-free sequence).
        unfreeze_rank_ratio: OSFT's trainable fraction of each targeted matrix's rank.
        lora_r: LoRA rank.
        seed: Seed of the random initialisation and the token ids.
        activation_checkpointing: Count activations as per-layer recomputation keeps them (see above).

    Returns:
        The measured components.
    """
    import torch

    torch.manual_seed(seed)
    model = apply_method(
        build_tiny_model(config, seed), method, unfreeze_rank_ratio=unfreeze_rank_ratio, lora_r=lora_r
    )
    model.train()
    vocab = int(config["vocab_size"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.95))
    ids = torch.randint(0, vocab, (1, tokens))

    # First step: creates gradients and optimizer states (they persist across micro-batches).
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()

    param_keys: dict[tuple[int, int], None] = {}
    for p in model.parameters():
        param_keys[_storage_key(p)] = None
    grad_keys = {_storage_key(p.grad) for p in trainable if p.grad is not None}
    optim_keys: set[tuple[int, int]] = set()
    for state in optimizer.state.values():
        for value in state.values():
            if torch.is_tensor(value):
                optim_keys.add(_storage_key(value))

    saved: dict[tuple[int, int], bool] = {}  # storage -> looks like logits
    owner: dict[tuple[int, int], int] = {}  # storage -> decoder layer that saved it first (-1: none)
    layer_inputs: dict[int, int] = {}
    current = [-1]

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key not in param_keys and key not in grad_keys:
            is_logits = t.dim() >= 1 and t.shape[-1] == vocab and t.numel() >= tokens * vocab // 2
            saved[key] = saved.get(key, False) or is_logits
            owner.setdefault(key, current[0])
        return t

    handles = []
    if activation_checkpointing:
        names = set(getattr(model, "_no_split_modules", None) or [])
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        names |= set(getattr(base, "_no_split_modules", None) or [])
        layers = [m for m in model.modules() if type(m).__name__ in names]

        def enter(index: int) -> Any:
            def hook(module: Any, args: Any, kwargs: Any) -> None:
                current[0] = index
                hidden = args[0] if args else kwargs.get("hidden_states")
                layer_inputs[index] = _storage_key(hidden)[1] if torch.is_tensor(hidden) else 0

            return hook

        def leave(module: Any, args: Any, output: Any) -> None:
            current[0] = -1

        for i, layer in enumerate(layers):
            handles.append(layer.register_forward_pre_hook(enter(i), with_kwargs=True))
            handles.append(layer.register_forward_hook(leave))

    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        out = model(input_ids=ids, labels=ids)
    logits_key = _storage_key(out.logits)
    if logits_key not in saved:
        saved[logits_key] = True
    out.loss.backward()
    optimizer.step()
    for handle in handles:
        handle.remove()

    activations = sum(k[1] for k, is_logits in saved.items() if not is_logits)
    if activation_checkpointing:
        per_layer: dict[int, int] = {}
        outside = 0
        for key, is_logits in saved.items():
            if is_logits:
                continue
            if owner.get(key, -1) < 0:
                outside += key[1]
            else:
                per_layer[owner[key]] = per_layer.get(owner[key], 0) + key[1]
        activations = outside + sum(layer_inputs.values()) + max(per_layer.values(), default=0)
    return Measurement(
        parameters=sum(n for _, n in param_keys),
        gradients=sum(n for _, n in grad_keys),
        optimizer=sum(n for _, n in optim_keys),
        activations=activations,
        logits=sum(k[1] for k, is_logits in saved.items() if is_logits),
        num_parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=sum(p.numel() for p in trainable),
    )
