"""Bad input fails early and clearly: one line naming the problem, exit code 3 (never retried), no
traceback, and no training step taken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import training_hub
from training_hub.errors import InvalidInputError


def run_engine(tmp_path: Path, params: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params))
    cmd = [sys.executable, "-m", "training_hub.engine", "--algorithm", "sft", "--params", str(params_file)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


def params(model: Path | str, data: Path | str, out: Path) -> dict[str, Any]:
    return {
        "model_path": str(model),
        "data_path": str(data),
        "ckpt_output_dir": str(out),
        "max_seq_len": 64,
        "max_steps": 2,
    }


@pytest.mark.integration
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("malformed-data", "bad.jsonl:3"),
        ("missing-model", "no-such-model"),
        ("missing-data", "no-such-data.jsonl"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_3_before_any_step(
    tmp_path: Path, tiny_model_dir: Path, messages_data: Path, case: str, expected: str
) -> None:
    out = tmp_path / "out"
    if case == "malformed-data":
        lines = messages_data.read_text().splitlines()[:2] + [
            '{"messages": [{"role": "user", "content": 3}',
            "x",
        ]
        bad = tmp_path / "bad.jsonl"
        bad.write_text("\n".join(lines) + "\n")
        p = params(tiny_model_dir, bad, out)
    elif case == "missing-model":
        p = params(tmp_path / "no-such-model", messages_data, out)
    else:
        p = params(tiny_model_dir, tmp_path / "no-such-data.jsonl", out)
    proc = run_engine(tmp_path, p)
    assert proc.returncode == 3, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("training_hub: error:")]
    assert len(errors) == 1 and expected in errors[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not (out / "training_metrics.jsonl").exists(), "no step may run on bad input"


@pytest.mark.unit
def test_unknown_backend_is_refused_before_training_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as err:
        training_hub.sft(
            model_path=str(tmp_path / "m"),
            data_path=str(tmp_path / "d.jsonl"),
            ckpt_output_dir=str(tmp_path / "o"),
            backend="no-such-backend",
        )
    assert "no-such-backend" in str(err.value) and "native" in str(err.value)
    assert not (tmp_path / "o").exists()
