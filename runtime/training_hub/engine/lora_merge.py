"""Save a LoRA model with its adapter merged into the base weights, without copying the model.

``copy.deepcopy(model).merge_and_unload()`` holds a second full model (fp32, on the GPU during training)
just to write ``merged/``. Here each adapted layer's merged weight, ``W + get_delta_weight()`` (the sum
peft's ``LoraLayer.merge`` adds in place, peft 0.21 ``peft/tuners/lora/layer.py``), is formed one layer at
a time on the CPU; every other tensor is the model's own. The model is left untouched, so the bytes written
equal ``merge_and_unload().save_pretrained()``'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

#: State-dict path components of the adapter's own tensors (lora_A, lora_B, lora_embedding_A...).
_ADAPTER_KEY = re.compile(r"(^|\.)lora_[A-Za-z_]+\.")


def merged_state_dict(peft_model: Any) -> dict[str, Any]:
    """The base model's state dict with every active LoRA adapter merged, on the CPU, base names only.

    Raises:
        ValueError: For adapters this merge does not cover (DoRA and other variants, ``lora_bias``).
    """
    from peft.tuners.lora import LoraLayer

    base = peft_model.get_base_model()
    merged: dict[str, Any] = {}
    for name, layer in base.named_modules():
        if not isinstance(layer, LoraLayer):
            continue
        module: Any = layer  # a LoraLayer mixed into nn.Linear / nn.Embedding (get_delta_weight is theirs)
        adapters = [a for a in module.active_adapters if a in module.lora_A or a in module.lora_embedding_A]
        if not adapters:
            continue
        for adapter in adapters:
            if adapter in getattr(module, "lora_variant", {}) or module.lora_bias.get(adapter):
                raise ValueError(f"{name}: adapter {adapter!r} is not plain LoRA; it cannot be merged here")
        weight = module.get_base_layer().weight.detach()
        out = weight.clone()
        for adapter in adapters:
            out += module.get_delta_weight(adapter).to(weight.dtype)
        merged[f"{name}.weight"] = out.cpu()
        del out
    state: dict[str, Any] = {}
    for key, tensor in base.state_dict().items():
        if _ADAPTER_KEY.search(key):
            continue
        clean = key.replace(".base_layer.", ".")
        state[clean] = merged.get(clean, tensor)
    return state


def save_merged(peft_model: Any, directory: str | Path) -> None:
    """Write the merged model (config and weights) to ``directory``, as ``merge_and_unload`` would."""
    base = peft_model.get_base_model()
    base.save_pretrained(str(directory), state_dict=merged_state_dict(peft_model))
