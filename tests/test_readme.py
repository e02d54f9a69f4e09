"""README's commands are real: every `training-hub ...` line parses with the CLI, and the two set-up
commands are Makefile targets that `.ci/run` uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from training_hub.cli.main import build_parser

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def _cli_lines() -> list[list[str]]:
    lines = []
    for block in _bash_blocks(README):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("training-hub "):
                lines.append(shlex.split(line)[1:])
    return lines


def test_readme_shows_the_cli() -> None:
    commands = {argv[0] for argv in _cli_lines()}
    assert {"sft", "lora-sft", "estimate", "plot-loss", "run", "status"} <= commands


@pytest.mark.parametrize("argv", _cli_lines(), ids=lambda a: " ".join(a))
def test_every_readme_cli_line_parses(argv: list[str]) -> None:
    parser = build_parser(argv)
    normalize = getattr(parser, "normalize_argv", None)
    args = parser.parse_args(normalize(argv) if normalize else argv)
    assert args.command == argv[0]


def test_the_two_commands_lead_and_ci_runs_the_test_one() -> None:
    first = _bash_blocks(README)[0]
    assert "make run" in first and "make test" in first
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
