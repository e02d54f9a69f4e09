"""Upstream's ``examples/scripts/*.py`` from the 0.11.2 sdist, run unchanged on this package (CPU): only their
command-line flags point them at the tiny model and data. The scripts that cannot run here are listed in
``training_hub.compatibility.UPSTREAM_EXAMPLES`` with the reason (docs/compatibility.md), and the list
covers every script of the sdist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.upstream import upstream_root
from training_hub.compatibility import UPSTREAM_EXAMPLES

pytestmark = pytest.mark.integration

RUNNABLE = sorted(name for name, reason in UPSTREAM_EXAMPLES.items() if reason is None)


def _scripts() -> Path:
    return upstream_root() / "examples" / "scripts"


@pytest.mark.unit
def test_every_upstream_example_is_listed() -> None:
    assert sorted(p.stem for p in _scripts().glob("*.py")) == sorted(UPSTREAM_EXAMPLES)


def _head(source: Path, target: Path, lines: int) -> None:
    target.write_text("".join(source.read_text().splitlines(keepends=True)[:lines]))


def _flags(script: Path) -> set[str]:
    return set(re.findall(r"add_argument\(\s*['\"](--[a-z0-9-]+)['\"]", script.read_text()))


@pytest.mark.parametrize("name", RUNNABLE)
def test_upstream_example_runs_unchanged(
    name: str, tiny_model_dir: Path, messages_data: Path, document_data: Path, tmp_path: Path
) -> None:
    script = _scripts() / f"{name}.py"
    flags = _flags(script)
    out = tmp_path / "out"
    data = tmp_path / "data.jsonl"  # a copy: some scripts (the callback smokes) write their own data there
    _head(messages_data, data, 48)  # one or two optimizer steps at the scripts' batch sizes
    values = {
        "--data-path": str(data),
        "--phase07-data-path": str(data),
        "--phase10-data-path": str(data),
        "--trained-model-path": str(tiny_model_dir),
        "--output-model-path": str(out / "interpolated"),
        "--mlflow-uri": (tmp_path / "mlruns").as_uri(),  # the scripts' default is a server on localhost
        "--model-path": str(tiny_model_dir),
        "--base-model-path": str(tiny_model_dir),
        "--ckpt-output-dir": str(out),
        "--ckpt-output-base-dir": str(out),
        "--out-dir": str(out),
        "--data-output-dir": str(tmp_path / "data"),
        "--nproc-per-node": "1",
        "--num-epochs": "1",
        "--max-tokens-per-gpu": "1024",
        "--max-seq-len": "64",
        "--batch-size": "16",
    }
    if "--block-size" in flags:  # continued pretraining (is_pretraining): document data in 64-token blocks
        _head(document_data, data, 48)
        values["--block-size"] = "64"
    args = [item for flag, value in values.items() if flag in flags for item in (flag, value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    text = done.stdout + done.stderr
    assert done.returncode == 0, text[-4000:]
    assert "failed" not in text.lower() and "Traceback" not in text, text[-4000:]
    assert list(out.rglob("*config.json")), "the script wrote no model (config.json or adapter_config.json)"
