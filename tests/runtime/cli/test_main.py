"""CLI: subcommand discovery, generated flags, YAML config + overrides, readable errors with exit code 2."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.cli import main as cli_main
from training_hub.cli.train import collect_params

pytestmark = pytest.mark.unit


def parse(argv: list[str]) -> argparse.Namespace:
    parser = cli_main.build_parser(argv)
    return parser.parse_args(getattr(parser, "normalize_argv", lambda a: a)(argv))


def test_help_lists_present_subcommands_without_importing_torch() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from training_hub.cli.main import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "print(buf.getvalue())\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in ("sft", "osft", "lora-sft", "plot-loss"):
        assert f"    {name} " in out
    assert out.strip().endswith("NO-TORCH")


def test_absent_subcommand_module_is_not_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = cli_main.Subcommand("ghost", "training_hub.cli.no_such_module", "never there")
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", (*cli_main.SUBCOMMANDS, extra))
    assert "ghost" not in [s.name for s in cli_main.available_subcommands()]
    assert "sft" in [s.name for s in cli_main.available_subcommands()]


def test_generated_flags_types_lists_bools_and_underscores() -> None:
    args = parse(
        [
            "osft",
            "--model-path", "m", "--data_path", "d", "--ckpt-output-dir=o",
            "--unfreeze-rank-ratio", "0.25", "--num-epochs", "3",
            "--target-patterns", "q_proj,k_proj", "--target_patterns", "v_proj",
            "--no-checkpoint-at-epoch", "--bf16", "--nproc-per-node", "2", "--rdzv-id", "job",
            "--lr-scheduler", "linear",
        ]
    )  # fmt: skip
    values = collect_params(args)
    assert values == {
        "model_path": "m",
        "data_path": "d",
        "ckpt_output_dir": "o",
        "unfreeze_rank_ratio": 0.25,
        "num_epochs": 3,
        "target_patterns": ["q_proj", "k_proj", "v_proj"],
        "checkpoint_at_epoch": False,
        "bf16": True,
        "nproc_per_node": 2,
        "rdzv_id": "job",
        "lr_scheduler": "linear",
    }


def test_help_text_is_the_field_description_with_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main.main(["lora-sft", "--help"])
    out = capsys.readouterr().out
    assert "--lora-r N" in out and "LoRA rank. (default: 16)" in out
    assert "--merge-adapter, --no-merge-adapter" in out
    assert "{cosine,linear,constant}" in out


def test_yaml_config_with_flag_overrides(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "model-path: /m\ndata_path: /d.jsonl\nckpt_output_dir: /o\nnum_epochs: 5\nlearning_rate: 1.0e-4\n"
        "unmask_roles: [assistant, user]\n"
    )
    values = collect_params(parse(["sft", "--config", str(config), "--num-epochs", "1"]))
    assert values["num_epochs"] == 1 and values["learning_rate"] == 1e-4 and values["model_path"] == "/m"
    assert values["unmask_roles"] == ["assistant", "user"]


def test_unknown_yaml_key_exits_2_with_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("model_path: /m\nlerning_rate: 0.1\n")
    assert cli_main.main(["sft", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "'lerning_rate'" in err and "did you mean 'learning_rate'" in err and "Traceback" not in err


def test_invalid_values_exit_2_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main.main(["osft", "--model-path", "m", "--data-path", "d", "--learning-rate", "-1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "learning_rate (--learning-rate): Input should be greater than 0" in err
    assert "ckpt_output_dir (--ckpt-output-dir): required, but not given" in err
    assert "unfreeze_rank_ratio (--unfreeze-rank-ratio): required" in err


def test_bad_yaml_and_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["sft", "--config", str(tmp_path / "absent.yaml")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    assert cli_main.main(["sft", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cannot read config" in err and "must be a mapping" in err


def test_argparse_type_errors_exit_2_without_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "training_hub.cli.main", "sft", "--num-epochs", "many"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "--num-epochs" in out.stderr and "Traceback" not in out.stderr


def test_unavailable_backend_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sft", "--model-path", "m", "--data-path", "d", "--ckpt-output-dir", str(tmp_path)]
    assert cli_main.main([*argv, "--backend", "instructlab-training"]) == 3
    err = capsys.readouterr().err
    assert "pip install 'training-hub-k8s[cuda]'" in err and "Traceback" not in err
