"""The native engine's DPO loss and reward metrics equal TRL's ``DPOTrainer`` on the same batch.

TRL (a dev dependency, the reference implementation) tokenises the same JSONL pairs, collates them padded and
computes its loss and metrics with ``DPOTrainer._compute_loss``; the engine tokenises with
:mod:`training_hub.data.preference`, packs the rows padding-free and computes with
:mod:`training_hub.engine.dpo_loss`. The policy and the reference are two different tiny models, so the rewards
are not zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

N_PAIRS = 6
TOL = 1e-5


def _trl(
    policy_dir: Path, ref_dir: Path, data: Path, loss_type: str, beta: float, smoothing: float, tmp: Path
) -> tuple[float, dict[str, float]]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    rows = [json.loads(line) for line in data.read_text().splitlines()[:N_PAIRS]]
    tokenizer = AutoTokenizer.from_pretrained(str(policy_dir))
    policy = AutoModelForCausalLM.from_pretrained(str(policy_dir), dtype=torch.float32)
    ref = AutoModelForCausalLM.from_pretrained(str(ref_dir), dtype=torch.float32)
    args = DPOConfig(
        output_dir=str(tmp / "trl"),
        beta=beta,
        loss_type=[loss_type],
        label_smoothing=smoothing,
        per_device_train_batch_size=N_PAIRS,
        max_length=None,
        report_to=[],
        use_cpu=True,
        bf16=False,
        dataset_num_proc=None,
    )
    trainer = DPOTrainer(
        model=policy,
        ref_model=ref,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    examples = [trainer.train_dataset[i] for i in range(N_PAIRS)]
    batch = {k: v.to(trainer.accelerator.device) for k, v in trainer.data_collator(examples).items()}
    trainer.model.eval()  # no dropout; TRL then logs under "eval"
    with torch.no_grad():
        loss = trainer._compute_loss(trainer.model, batch, False)
    metrics = {k: float(v[-1]) for k, v in trainer._metrics["eval"].items()}
    return float(loss), metrics


def _ours(
    policy_dir: Path, ref_dir: Path, data: Path, loss_type: str, beta: float, smoothing: float
) -> tuple[float, dict[str, float]]:
    import torch

    from training_hub.data.preference import prepare_preferences
    from training_hub.engine.config import resolve_config
    from training_hub.engine.dpo import _forward_logits
    from training_hub.engine.dpo_loss import STAT_NAMES, DPOLossConfig, dpo_pair_losses, row_logps
    from training_hub.engine.model_setup import load_causal_lm, load_tokenizer

    cfg = resolve_config(
        "dpo", {"model_path": str(policy_dir), "data_path": str(data), "ckpt_output_dir": "/unused"}
    )
    tokenizer = load_tokenizer(str(policy_dir))
    dataset, _ = prepare_preferences(data, tokenizer, max_seq_len=2048)
    batch = {k: torch.from_numpy(v) for k, v in dataset.collate(list(range(N_PAIRS)), 0).items()}
    logps = {}
    with torch.no_grad():
        for name, path in (("policy", policy_dir), ("ref", ref_dir)):
            model = load_causal_lm(cfg, str(path)).eval()
            logits = _forward_logits(model, batch)
            logps[name] = row_logps(logits, batch["targets"], batch["row_index"], 2 * N_PAIRS).view(-1, 2)
        losses, stats = dpo_pair_losses(
            DPOLossConfig(beta=beta, loss_type=loss_type, label_smoothing=smoothing),
            logps["policy"],
            logps["ref"],
            batch["response_tokens"],
        )
    metrics = {name: float(v) / N_PAIRS for name, v in zip(STAT_NAMES, stats.tolist(), strict=True)}
    return float(losses.mean()), metrics


@pytest.mark.parametrize(
    ("loss_type", "beta", "smoothing", "fmt"),
    [
        ("sigmoid", 0.1, 0.0, "standard"),
        ("sigmoid", 0.5, 0.0, "chat"),
        ("ipo", 0.1, 0.0, "standard"),
        ("ipo", 0.3, 0.0, "chat"),
        ("robust", 0.1, 0.2, "standard"),
    ],
)
def test_loss_and_reward_metrics_equal_trl(
    tiny_model_dir: Path,
    other_model_dir: Path,
    preference_data: Path,
    preference_chat_data: Path,
    tmp_path: Path,
    loss_type: str,
    beta: float,
    smoothing: float,
    fmt: str,
) -> None:
    data = preference_data if fmt == "standard" else preference_chat_data
    trl_loss, trl_metrics = _trl(tiny_model_dir, other_model_dir, data, loss_type, beta, smoothing, tmp_path)
    loss, metrics = _ours(tiny_model_dir, other_model_dir, data, loss_type, beta, smoothing)
    assert abs(trl_metrics["rewards/margins"]) > 1e-3  # the two models differ: a non-trivial comparison
    assert loss == pytest.approx(trl_loss, abs=TOL)
    for name in ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"):
        assert metrics[name] == pytest.approx(trl_metrics[name], abs=TOL), name
    for name in ("logps/chosen", "logps/rejected"):  # sums over ~10 tokens: relative float32 tolerance
        assert metrics[name] == pytest.approx(trl_metrics[name], rel=TOL, abs=TOL), name


def test_cdpo_label_smoothing_is_the_mixture_of_both_directions() -> None:
    """``sigmoid`` with label smoothing is conservative DPO: (1 - e) of the DPO loss plus e of the flipped one
    (TRL 1.x applies smoothing only to its other losses, so this is checked against the formula)."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    from training_hub.engine.dpo_loss import DPOLossConfig, dpo_pair_losses

    policy = torch.tensor([[-3.0, -5.0], [-4.0, -2.0]])
    ref = torch.tensor([[-3.5, -4.0], [-4.0, -4.0]])
    counts = torch.tensor([[3, 4], [2, 2]])
    eps, beta = 0.25, 0.5
    losses, _ = dpo_pair_losses(DPOLossConfig(beta, "sigmoid", eps), policy, ref, counts)
    delta = (policy[:, 0] - ref[:, 0]) - (policy[:, 1] - ref[:, 1])
    expected = -(1 - eps) * F.logsigmoid(beta * delta) - eps * F.logsigmoid(-beta * delta)
    torch.testing.assert_close(losses, expected)
    plain, _ = dpo_pair_losses(DPOLossConfig(beta, "sigmoid", 0.0), policy, ref, counts)
    assert not torch.allclose(plain, losses)
