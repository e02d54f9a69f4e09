"""The merged LoRA model is written without a second copy of the model, and equals peft's own merge."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _lora_model(tiny_model_dir: Path) -> object:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", bias="none", task_type="CAUSAL_LM")
    )
    with torch.no_grad():  # a trained adapter: B is no longer zero
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    return peft_model


def test_merged_weights_equal_merge_and_unload_and_the_model_is_untouched(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from safetensors.torch import load_file

    from training_hub.engine.lora_merge import save_merged

    model = _lora_model(tiny_model_dir)
    reference = copy.deepcopy(model).merge_and_unload()  # type: ignore[attr-defined]
    reference.save_pretrained(str(tmp_path / "reference"))
    before = {k: v.clone() for k, v in model.state_dict().items()}  # type: ignore[attr-defined]

    real_deepcopy = copy.deepcopy

    def no_model_copy(obj: object, memo: object = None) -> object:
        if isinstance(obj, torch.nn.Module):
            raise AssertionError(f"deepcopy of a {type(obj).__name__} while merging")
        return real_deepcopy(obj, memo)  # type: ignore[arg-type]

    monkeypatch.setattr(copy, "deepcopy", no_model_copy)
    save_merged(model, tmp_path / "merged")
    monkeypatch.undo()

    ours = load_file(str(tmp_path / "merged" / "model.safetensors"))
    theirs = load_file(str(tmp_path / "reference" / "model.safetensors"))
    assert ours.keys() == theirs.keys()
    for key, tensor in theirs.items():
        assert torch.equal(ours[key], tensor), key
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(ours[q], before["base_model.model." + q.replace(".weight", ".base_layer.weight")])
    after = model.state_dict()  # type: ignore[attr-defined]
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert (tmp_path / "merged" / "config.json").is_file()
