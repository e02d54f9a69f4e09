"""End to end: sft() from a plain Python process launches torchrun itself; the CLI trains from a YAML config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.tiny_training import read_metrics

pytestmark = pytest.mark.integration


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PET_", "TORCHELASTIC_"))}
    for var in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_sft_from_plain_python_runs_two_processes(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        import json
        from training_hub import sft
        result = sft(
            model_path={str(tiny_model_dir)!r}, data_path={str(messages_data)!r}, ckpt_output_dir={str(out)!r},
            nproc_per_node=2, effective_batch_size=8, learning_rate=1e-3, max_seq_len=128, max_steps=3,
            checkpoint_at_epoch=False,
        )
        print("RESULT " + json.dumps(result, default=str))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert result["world_size"] == 2 and result["steps"] == 3
    assert "--nproc-per-node=2" in result["launch"]["command"]
    model_dir = Path(result["output_model_path"])
    assert (model_dir / "config.json").is_file()
    assert any(model_dir.glob("*.safetensors"))
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics] == [1, 2, 3]
    # The launch log holds the workers' output.
    assert "done: final loss" in (out / "launch_node0.log").read_text()


def test_cli_trains_from_yaml_with_flag_override(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cli-run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model_path: {tiny_model_dir}\ndata_path: {messages_data}\nckpt_output_dir: {out}\n"
        "num_epochs: 4\nmax_steps: 2\neffective_batch_size: 4\nmax_seq_len: 128\nlearning_rate: 1.0e-3\n"
    )
    exe = Path(sys.executable).with_name("training-hub")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "training_hub.cli.main"]
    proc = subprocess.run(
        [*argv, "sft", "--config", str(config), "--num-epochs", "1", "--backend", "native"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    params = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert params["steps"] == 2 and params["epochs"] == 1
    assert Path(params["output_model_path"], "config.json").is_file()
