"""``dpo()`` and ``training-hub dpo``: keyword-only signature from the model, validation, CLI training."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import training_hub
from tests.support.tiny_training import read_metrics
from training_hub.cli.main import main
from training_hub.errors import InvalidInputError
from training_hub.params import param_model

pytestmark = pytest.mark.unit


def test_signature_is_the_model_and_registered() -> None:
    params = inspect.signature(training_hub.dpo).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert set(params) - {"callbacks"} == set(param_model("dpo").model_fields)
    for name, field in param_model("dpo").model_fields.items():
        assert (params[name].default is inspect.Parameter.empty) == field.is_required(), name
        if field.description:
            assert field.description in (training_hub.dpo.__doc__ or "")
    assert training_hub.AlgorithmRegistry.list_backends("dpo") == ["native"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"beta": 0}, "beta"),
        ({"loss_type": "hinge"}, "loss_type"),
        ({"label_smoothing": 0.5}, "label_smoothing"),
        ({"is_pretraining": True}, "is_pretraining does not apply to dpo"),
        ({"unmask_roles": ["user"]}, "unmask_roles does not apply to dpo"),
        ({"use_lora": True, "reference_model_path": "/m"}, "exclusive"),
        ({"bta": 0.1}, "did you mean 'beta'"),
    ],
)
def test_bad_values_are_clear_errors(extra: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        training_hub.dpo(model_path="/m", data_path="/d.jsonl", ckpt_output_dir="/o", **extra)


def test_cli_trains_from_yaml_with_flag_overrides(
    tmp_path: Path, tiny_model_dir: Path, preference_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dpo.yaml"
    out = tmp_path / "out"
    config.write_text(
        f"model_path: {tiny_model_dir}\ndata_path: {preference_data}\nckpt_output_dir: {out}\n"
        "beta: 0.2\nloss_type: ipo\neffective_batch_size: 8\nmax_seq_len: 64\n"
    )
    assert main(["dpo", "--config", str(config), "--max-steps", "2", "--no-checkpoint-at-epoch"]) == 0
    assert '"algorithm": "dpo"' in capsys.readouterr().out  # the summary
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2] and "rewards/margins" in rows[0]
    assert main(["dpo", "--config", str(config), "--loss-type", "ipo", "--beta", "-1"]) == 2
    assert "beta" in capsys.readouterr().err
