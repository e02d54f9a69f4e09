"""``training-hub estimate``: the module's ``add_arguments``/``run`` and ``python -m``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.cli import estimate as cli

pytestmark = pytest.mark.unit


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_table_and_plan(qwen7b_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _run(
        ["--method", "sft", "--model", str(qwen7b_dir), "--max-tokens-per-gpu", "4096", "--gpu", "H100"]
    )
    out = capsys.readouterr().out
    assert rc == 0
    for word in (
        "parameters",
        "optimizer states",
        "activations",
        "logits",
        "overhead",
        "expected",
        "Plan: 1 node(s)",
    ):
        assert word in out


def test_nothing_fits_exits_1_with_suggestions(qwen7b_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _run(
        [
            "--method",
            "sft",
            "--model",
            str(qwen7b_dir),
            "--max-seq-len",
            "4096",
            "--gpu-memory",
            "80GiB",
            "--max-gpus-per-node",
            "1",
            "--max-nodes",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1 and "NOTHING FITS" in out and "What would fit" in out


def test_json_output(qwen7b_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _run(
        [
            "--method",
            "lora_sft",
            "--model",
            str(qwen7b_dir / "config.json"),
            "--max-tokens-per-gpu",
            "2048",
            "--gpu",
            "A100-80GB",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["plan"]["fits"] and data["estimate"]["expected"] == data["plan"]["per_gpu_expected"]
    assert data["estimate"]["assumptions"]["training_method"] == "lora"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--gpu", "RTX-9999", "--max-seq-len", "8"], "unknown GPU product"),
        (["--max-seq-len", "8", "--lora-r", "0"], "lora_r"),
        (["--gpu-memory", "80GiB"], "--max-tokens-per-gpu or --max-seq-len"),
    ],
)
def test_bad_input_exits_3(
    qwen7b_dir: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["--method", "sft", "--model", str(qwen7b_dir), *argv]) == 3
    assert message in capsys.readouterr().err


def test_missing_model_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--method", "sft", "--model", str(tmp_path / "none"), "--max-seq-len", "8"]) == 3
    assert "does not exist" in capsys.readouterr().err


def test_python_dash_m(qwen7b_dir: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "training_hub.cli.estimate",
            "--method",
            "osft",
            "--model",
            str(qwen7b_dir),
            "--max-tokens-per-gpu",
            "2048",
            "--gpu",
            "A100-80GB",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Plan:" in out.stdout and "OSFT" in out.stdout
