"""The generated stubs of the algorithm functions: current, and what a type checker sees."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.algorithms import stubs


@pytest.mark.unit
def test_the_stubs_are_current() -> None:
    assert stubs.main(["--check"]) == 0, "run: python -m training_hub.algorithms.stubs --write"


def _stub_keywords(function: str) -> dict[str, bool]:
    """The keywords the stubs give ``function`` (``**kwargs: Unpack[...]``, through the TypedDicts' bases),
    each with whether it is ``Required``."""
    classes: dict[str, ast.ClassDef] = {}
    functions: dict[str, ast.FunctionDef] = {}
    for text in stubs.stubs().values():
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = node
            elif isinstance(node, ast.FunctionDef):
                functions[node.name] = node
    kwarg = functions[function].args.kwarg
    assert kwarg is not None and isinstance(kwarg.annotation, ast.Subscript), function
    assert ast.unparse(kwarg.annotation.value) == "Unpack"

    def keys(name: str) -> dict[str, bool]:
        found: dict[str, bool] = {}
        for base in classes[name].bases:
            if ast.unparse(base) != "TypedDict":
                found.update(keys(ast.unparse(base)))
        for item in classes[name].body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                found[item.target.id] = ast.unparse(item.annotation).startswith("Required[")
        return found

    return keys(ast.unparse(kwarg.annotation.slice))


@pytest.mark.unit
def test_the_stub_keywords_are_the_runtime_signatures() -> None:
    """Every keyword of each function, required where the runtime signature has no default, and no other."""
    from training_hub import dpo, lora_sft, osft, sft

    for function in (sft, osft, lora_sft, dpo):
        expected = {
            name: parameter.default is inspect.Parameter.empty
            for name, parameter in inspect.signature(function).parameters.items()
        }
        assert _stub_keywords(function.__name__) == expected, function.__name__


@pytest.mark.integration
def test_a_type_checker_sees_the_keywords(tmp_path: Path) -> None:
    """mypy, as an IDE would, flags a misspelt keyword, a wrong type and a missing required keyword, and accepts
    a correct call."""
    script = tmp_path / "user_script.py"
    script.write_text(
        "from training_hub import dpo, lora_sft, osft, sft\n"
        "sft(model_path='m', data_path='d', ckpt_output_dir='o', num_epochs=1, learning_rate=1e-5)\n"
        "lora_sft(model_path='m', data_path='d', ckpt_output_dir='o', lora_r=8)\n"
        "dpo(model_path='m', data_path='d', ckpt_output_dir='o', beta=0.1)\n"
        "sft(model_path='m', data_path='d', ckpt_output_dir='o', num_epoch=1)\n"
        "sft(model_path='m', data_path='d', ckpt_output_dir='o', num_epochs='one')\n"
        "osft(model_path='m', data_path='d', ckpt_output_dir='o')\n"
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
    assert any(':7: error: Missing named argument "unfreeze_rank_ratio" for "osft"' in e for e in errors), (
        result.stdout
    )
    assert len(errors) == 3, result.stdout
