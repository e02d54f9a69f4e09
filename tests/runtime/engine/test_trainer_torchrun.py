"""2-process torchrun training on CPU for sft, osft and lora_sft: loss drops, checkpoints reload exactly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.tiny_training import base_params, read_metrics, run_torchrun

pytestmark = pytest.mark.integration

ALGORITHMS = ("sft", "osft", "lora_sft")


@pytest.fixture(scope="module")
def run_once(tmp_path_factory, tiny_model_dir: Path, messages_data: Path):
    """Train each algorithm at most once per module; later requests reuse the run."""
    done: dict[str, tuple[str, Path, Path, subprocess.CompletedProcess[str]]] = {}

    def get(algorithm: str):
        if algorithm not in done:
            work = tmp_path_factory.mktemp(algorithm)
            out = work / "ckpt"
            proc = run_torchrun(algorithm, base_params(algorithm, tiny_model_dir, messages_data, out), work)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
            done[algorithm] = (algorithm, work, out, proc)
        return done[algorithm]

    return get


@pytest.fixture(params=ALGORITHMS)
def trained(request: pytest.FixtureRequest, run_once):
    return run_once(request.param)


def test_loss_drops_and_metrics_are_complete(trained) -> None:
    algorithm, work, out, proc = trained
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == list(range(1, 25))
    assert all(r["total_steps"] == 24 for r in rows)
    assert [r["samples_seen"] for r in rows] == [16 * s for s in range(1, 25)]
    keys = {"step", "total_steps", "epoch", "loss", "lr", "grad_norm", "tokens", "samples_seen"}
    keys |= {"tokens_per_second", "elapsed", "num_samples"}
    assert keys <= set(rows[0])
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-3:]) / 3
    assert last < 0.7 * first, f"{algorithm}: loss {first:.3f} -> {last:.3f}"
    summary = json.loads((work / "summary.json").read_text())
    assert summary["steps"] == 24 and summary["world_size"] == 2
    assert summary["final_loss"] == pytest.approx(rows[-1]["loss"])
    assert summary["output_model_path"] == str(out / "hf_format" / "final")
    assert "[training_hub] step 24/24" in proc.stdout  # readable progress without a TTY


def test_checkpoint_layout(trained) -> None:
    algorithm, _, out, _ = trained
    hf = sorted(p.name for p in (out / "hf_format").iterdir())
    assert hf == ["final", "samples_128", "samples_256", "samples_384"]
    full = sorted(p.name for p in (out / "full_state").iterdir())
    assert full == ["samples_128", "samples_256", "samples_384"]
    for d in [*(out / "hf_format").iterdir(), *(out / "full_state").iterdir()]:
        assert (d / "COMPLETE").is_file()
    state = json.loads((out / "full_state" / "samples_384" / "trainer_state.json").read_text())
    assert state["step"] == 24 and state["samples_seen"] == 384
    assert (out / "full_state" / "samples_128" / "rng" / "rank_1.pt").is_file()
    if algorithm == "lora_sft":
        assert (out / "hf_format" / "final" / "adapter_config.json").is_file()
        assert (out / "hf_format" / "final" / "merged" / "config.json").is_file()
    else:
        assert (out / "hf_format" / "final" / "model.safetensors").is_file()


def _logits_of(model, input_ids):
    import torch

    with torch.no_grad():
        return model(input_ids=input_ids, use_cache=False).logits.float()


def test_checkpoints_reload_with_plain_libraries_and_match_in_memory_logits(
    trained, tiny_model_dir: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    algorithm, work, out, _ = trained
    probes = sorted((work / "probe").glob("hf-samples_*.pt")) + [work / "probe" / "final-final.pt"]
    assert len(probes) == 4
    for probe_file in probes:
        probe = torch.load(probe_file)
        name = probe_file.stem.split("-", 1)[1]
        ckpt = out / "hf_format" / name
        if algorithm == "lora_sft":
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
            model = PeftModel.from_pretrained(base, str(ckpt)).eval()
        else:
            model = AutoModelForCausalLM.from_pretrained(str(ckpt)).eval()
        torch.testing.assert_close(
            _logits_of(model, probe["input_ids"]), probe["logits"], atol=1e-4, rtol=1e-4
        )
        assert AutoTokenizer.from_pretrained(str(ckpt)).chat_template
    if algorithm == "lora_sft":
        probe = torch.load(work / "probe" / "final-final.pt")
        merged = AutoModelForCausalLM.from_pretrained(str(out / "hf_format" / "final" / "merged")).eval()
        torch.testing.assert_close(
            _logits_of(merged, probe["input_ids"]), probe["logits"], atol=1e-4, rtol=1e-4
        )
        # the adapter changed the model
        base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
        assert not torch.allclose(_logits_of(base, probe["input_ids"]), probe["logits"], atol=1e-3)


def test_osft_keeps_the_frozen_subspace(run_once, tiny_model_dir: Path) -> None:
    _, _, out, _ = run_once("osft")
    import torch
    from safetensors.torch import load_file

    from training_hub.engine.osft import DEFAULT_TARGET_PATTERNS, frozen_rank

    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "hf_format" / "final" / "model.safetensors"))
    targets = [k for k in before if k.endswith(".weight") and any(p in k for p in DEFAULT_TARGET_PATTERNS)]
    targets = [k for k in targets if before[k].dim() == 2]
    assert len(targets) == 14  # 7 projections x 2 layers
    for key in targets:
        w0, w1 = before[key].double(), after[key].double()
        u, s, vh = torch.linalg.svd(w0, full_matrices=False)
        k = frozen_rank(s.numel(), 0.5)
        u_h, s_h, v_h = u[:, :k], s[:k], vh[:k].T
        assert (w1 - w0).norm() / w0.norm() > 1e-3, f"{key} did not train"
        # Projections of W onto the frozen singular subspace are unchanged.
        rel_left = (u_h.T @ w1 - s_h[:, None] * v_h.T).norm() / s_h.norm()
        rel_right = (w1 @ v_h - u_h * s_h).norm() / s_h.norm()
        assert rel_left < 1e-5 and rel_right < 1e-5, (key, float(rel_left), float(rel_right))
    # Non-targeted weights (embeddings, norms, head) train normally.
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])
