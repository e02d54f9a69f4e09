"""The generated stubs of the algorithm functions: current, and what a type checker sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.algorithms import stubs


@pytest.mark.unit
def test_the_stubs_are_current() -> None:
    assert stubs.main(["--check"]) == 0, "run: python -m training_hub.algorithms.stubs --write"


@pytest.mark.unit
def test_every_keyword_of_the_runtime_signature_is_in_the_stub() -> None:
    import inspect

    from training_hub import dpo, lora_sft, osft, sft

    texts = "".join(stubs.stubs().values())
    for function in (sft, osft, lora_sft, dpo):
        stub = texts.split(f"def {function.__name__}(\n", 1)[1].split(") -> Any", 1)[0]
        for name in inspect.signature(function).parameters:
            assert f"    {name}: " in stub, (function.__name__, name)


@pytest.mark.integration
def test_a_type_checker_sees_the_keywords(tmp_path: Path) -> None:
    """mypy, as an IDE would, flags a misspelt keyword and a wrong type, and accepts a correct call."""
    script = tmp_path / "user_script.py"
    script.write_text(
        "from training_hub import dpo, lora_sft, sft\n"
        "sft(model_path='m', data_path='d', ckpt_output_dir='o', num_epochs=1, learning_rate=1e-5)\n"
        "lora_sft(model_path='m', data_path='d', ckpt_output_dir='o', lora_r=8)\n"
        "dpo(model_path='m', data_path='d', ckpt_output_dir='o', beta=0.1)\n"
        "sft(model_path='m', data_path='d', ckpt_output_dir='o', num_epoch=1)\n"
        "sft(model_path='m', data_path='d', ckpt_output_dir='o', num_epochs='one')\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--follow-imports=silent",
            "--ignore-missing-imports",
            str(script),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        # The editable install is an import hook mypy cannot follow; an installed wheel is this folder.
        env={**os.environ, "MYPYPATH": str(Path(stubs.__file__).resolve().parents[2])},
    )
    errors = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("user_script.py:") and ": error:" in line
    ]
    assert any(':5: error: Unexpected keyword argument "num_epoch"' in e for e in errors), result.stdout
    assert any(":6: error: Argument " in e and "num_epochs" in e for e in errors), result.stdout
    assert len(errors) == 2, result.stdout
