"""embedding_sft on CPU: a tiny BERT with mean pooling (built here), trained a few steps with sentence-transformers.

The loss falls, the saved model loads with ``SentenceTransformer`` and embeds, same-label texts end up
closer together than before, and the metrics file holds every step and upstream's summary line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import read_metrics
from training_hub import embedding_sft
from training_hub.backends.sentence_transformers_backend import encode_labels
from training_hub.errors import InvalidInputError
from training_hub.tiny import build_tiny_embedding_model, write_labeled_dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedding_assets(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("embedding")
    return {
        "model": build_tiny_embedding_model(root / "model", tokenizer_dir=tiny_tokenizer_dir),
        "train": write_labeled_dataset(root / "train.jsonl", n=96, seed=0),
        "eval": write_labeled_dataset(root / "eval.jsonl", n=30, seed=1),
    }


def _separation(model_dir: Path, data: Path) -> float:
    """Mean cosine similarity of same-label pairs minus that of different-label pairs."""
    import torch
    from sentence_transformers import SentenceTransformer

    rows = [json.loads(line) for line in data.read_text().splitlines()]
    model = SentenceTransformer(str(model_dir), device="cpu")
    emb = torch.nn.functional.normalize(
        model.encode([r["text"] for r in rows], convert_to_tensor=True), dim=-1
    )
    sim = emb @ emb.T
    labels = [r["label"] for r in rows]
    same = torch.tensor([[a == b for b in labels] for a in labels])
    off_diag = ~torch.eye(len(rows), dtype=torch.bool)
    return float(sim[same & off_diag].mean() - sim[~same].mean())


@pytest.fixture(scope="module")
def trained(embedding_assets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("embedding-out")
    result = embedding_sft(
        str(embedding_assets["model"]),
        str(embedding_assets["train"]),
        str(out),
        num_epochs=4,
        batch_size=24,
        learning_rate=5e-3,
        eval_data_path=str(embedding_assets["eval"]),
        seed=1,
    )
    rows = read_metrics(out)
    return {"out": out, "result": result, "rows": rows}


def test_loss_falls_and_the_metrics_file_has_every_step(trained: dict[str, Any]) -> None:
    steps = [r for r in trained["rows"] if isinstance(r.get("loss"), float) and "step" in r]
    assert [r["step"] for r in steps] == list(range(1, 17))  # 4 epochs x 96/24 batches
    first, last = steps[0]["loss"], steps[-1]["loss"]
    assert last < 0.8 * first
    evals = [r for r in trained["rows"] if "eval_loss" in r]
    assert len(evals) == 4 and evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    summary = trained["rows"][-1]
    assert summary == {
        "max_steps": 16,
        "global_step": 16,
        "train_loss": pytest.approx(sum(r["loss"] for r in steps) / 16, rel=1e-3),
        "epoch": 4,
        "loss": "batch_all_triplet",
    }
    assert trained["result"] == {
        "status": "success",
        "model_path": str(trained["out"]),
        "num_samples": 96,
        "num_epochs": 4,
        "loss": "batch_all_triplet",
    }


def test_saved_model_loads_embeds_and_separates_labels(
    trained: dict[str, Any], embedding_assets: dict[str, Path]
) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(trained["out"]), device="cpu")
    assert model.encode(["apple pear", "cat dog"]).shape == (2, 32)
    before = _separation(embedding_assets["model"], embedding_assets["eval"])
    after = _separation(trained["out"], embedding_assets["eval"])
    assert after > before + 0.05


def test_mnrl_and_custom_loss(embedding_assets: dict[str, Path], tmp_path: Path) -> None:
    result = embedding_sft(
        model_path=str(embedding_assets["model"]),
        data_path=str(embedding_assets["train"]),
        ckpt_output_dir=str(tmp_path / "mnrl"),
        loss_type="mnrl",
        max_steps=2,
        batch_size=8,
    )
    assert result["loss"] == "mnrl" and result["num_samples"] == 3 * 32 * 31 // 2  # pairs per label
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import BatchHardSoftMarginTripletLoss

    model = SentenceTransformer(str(embedding_assets["model"]), device="cpu")
    custom = embedding_sft(
        str(embedding_assets["model"]),
        str(embedding_assets["train"]),
        str(tmp_path / "custom"),
        loss_fn=BatchHardSoftMarginTripletLoss(model),
        max_steps=1,
        text_column="text",
    )
    assert custom["loss"] == "custom (BatchHardSoftMarginTripletLoss)"


@pytest.mark.unit
def test_labels_and_invalid_input(tmp_path: Path) -> None:
    assert encode_labels(["b", "a", "b"]) == [1, 0, 1]
    assert encode_labels([1.0, 2.0]) == [1, 2] and encode_labels([True, False]) == [1, 0]
    with pytest.raises(ValueError, match="loss_type"):
        embedding_sft("/m", "/d.jsonl", str(tmp_path), loss_type="cosine")
    with pytest.raises(InvalidInputError, match="no such file"):
        embedding_sft("/m", str(tmp_path / "none.jsonl"), str(tmp_path), max_steps=1)


def test_cli_embedding_sft(
    embedding_assets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training_hub.cli.main import main as cli

    out = tmp_path / "cli"
    code = cli(
        [
            "embedding-sft",
            "--model-path",
            str(embedding_assets["model"]),
            "--data-path",
            str(embedding_assets["train"]),
            "--ckpt-output-dir",
            str(out),
            "--loss-type",
            "batch_hard_triplet",
            "--max-steps",
            "2",
        ]
    )
    assert code == 0
    assert (out / "model.safetensors").is_file() and (out / "modules.json").is_file()
    rows = read_metrics(out)
    assert rows[-1]["loss"] == "batch_hard_triplet" and rows[-1]["global_step"] == 2
    assert (
        cli(
            [
                "embedding-sft",
                "--model-path",
                "/m",
                "--data-path",
                "/d",
                "--ckpt-output-dir",
                "/o",
                "--batch-size",
                "0",
            ]
        )
        == 2
    )


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tiny-embedding-cpu.yaml"


@pytest.mark.unit
def test_trainingrun_with_embedding_sft_is_validated_and_planned() -> None:
    import yaml

    from training_hub_operator.api.validation import SpecError, validate_spec

    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    validated = validate_spec(spec)
    assert validated.spec.algorithm == "embedding_sft"
    assert validated.hyperparameters.model_dump()["loss_type"] == "batch_all_triplet"
    with pytest.raises(SpecError, match="learning_rate|effective_batch_size"):
        validate_spec({**spec, "hyperparameters": {"effective_batch_size": 8}})
    with pytest.raises(SpecError, match="one process"):
        validate_spec({**spec, "resources": {"nodes": 2, "gpusPerNode": 0}})
    with pytest.raises(SpecError, match="loss_type"):
        validate_spec({**spec, "hyperparameters": {"loss_type": "cosine"}})


@pytest.mark.unit
def test_estimator_row_for_an_encoder_has_no_vocabulary_logits() -> None:
    from training_hub.estimator import EstimateInputs, estimate_from_inputs

    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": 30522,
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "max_position_embeddings": 512,
    }
    inputs = EstimateInputs.from_training_params("embedding_sft", {"batch_size": 16}, config)
    assert (inputs.training_method, inputs.tokens_per_gpu(), inputs.dtype) == ("sft", 16 * 512, "fp32")
    small = estimate_from_inputs(inputs).expected
    big = estimate_from_inputs(
        EstimateInputs.from_training_params("embedding_sft", {"batch_size": 64}, config)
    )
    assert 0 < small < big.expected < 40 * 2**30


def test_trainingrun_runs_in_local_mode(tmp_path: Path) -> None:
    import io

    from sentence_transformers import SentenceTransformer

    from training_hub.local.runner import run_local

    log = io.StringIO()
    _, result = run_local(EXAMPLE, root=tmp_path, output=log, timeout=300)
    assert result.succeeded, log.getvalue()[-3000:]
    out = tmp_path / "pvc" / "training-output" / "tiny-embedding"
    rows = read_metrics(out)
    assert rows[-1]["global_step"] == 6 and [r["step"] for r in rows[:-1]] == [1, 2, 3, 4, 5, 6]
    assert SentenceTransformer(str(out), device="cpu").encode(["red blue"]).shape == (1, 32)


@pytest.mark.unit
def test_docs_table_lists_every_keyword() -> None:
    from training_hub.params import param_model

    doc = (Path(__file__).resolve().parents[3] / "docs" / "embedding-sft.md").read_text()
    table = {line.split("|")[1].strip() for line in doc.splitlines() if line.startswith("| `")}
    names = {n.strip("` ") for cell in table for n in cell.split(",")}
    assert (
        set(param_model("embedding_sft").model_fields)
        - {"rdzv_id", "rdzv_endpoint", "master_addr", "master_port", "node_rank"}
        <= names
    )
    assert "loss_fn" in names
