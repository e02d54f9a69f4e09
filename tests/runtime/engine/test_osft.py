"""OSFT layers: exact reconstruction, frozen subspace preserved under AdamW, plain-weight export."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def test_osft_layers_keep_the_frozen_subspace_under_adamw(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from training_hub.engine.osft import OSFTLinear, apply_osft, frozen_rank, osft_hf_state_dict

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    original = {k: v.clone() for k, v in model.state_dict().items()}
    modules = apply_osft(model, 0.25, ["mlp"])
    assert len(modules) == 6 and all(isinstance(m, OSFTLinear) for m in modules.values())
    # Reconstruction reproduces the original weights.
    exported = osft_hf_state_dict({k: v.detach() for k, v in model.state_dict().items()}, modules)
    for name in modules:
        torch.testing.assert_close(
            exported[f"{name}.weight"], original[f"{name}.weight"], atol=1e-5, rtol=1e-5
        )
    assert set(exported) == set(original)

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
    torch.manual_seed(0)
    for _ in range(5):
        ids = torch.randint(0, model.config.vocab_size, (2, 16))
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        for m in modules.values():
            m.project_gradients()
        opt.step()
        opt.zero_grad()
        for m in modules.values():
            m.project_parameters()
    for name, m in modules.items():
        w0 = original[f"{name}.weight"].double()
        w1 = m.reconstruct().detach().double()
        u, s, vh = torch.linalg.svd(w0, full_matrices=False)
        k = frozen_rank(s.numel(), 0.25)
        assert k == m.U_high.shape[1] and k > 0
        u_h, s_h, v_h = u[:, :k], s[:k], vh[:k].T
        assert (w1 - w0).norm() / w0.norm() > 1e-3
        assert (u_h.T @ w1 - s_h[:, None] * v_h.T).norm() / s_h.norm() < 1e-5
        assert (w1 @ v_h - u_h * s_h).norm() / s_h.norm() < 1e-5


def test_frozen_rank_and_target_errors(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from training_hub.engine.osft import apply_osft, frozen_rank
    from training_hub.errors import InvalidInputError

    assert frozen_rank(64, 0.5) == 32 and frozen_rank(64, 1.0) == 0 and frozen_rank(10, 0.25) == 7
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    with pytest.raises(InvalidInputError, match="match no linear layer"):
        apply_osft(model, 0.5, ["no_such_module"])
