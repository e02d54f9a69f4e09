"""Which operator code the benchmark runs and in which environment: the operator image's memory settings
(:func:`operator_env`) and an earlier commit's ``operator/`` and ``runtime/`` trees (:func:`export_tree`,
:func:`code_path`) to measure against this tree's."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from benchmarks.benchlib import ROOT

OPERATOR_DOCKERFILE = ROOT / "images" / "operator" / "Dockerfile"


#: Variables of the operator image's environment that change how its memory is managed.
MEMORY_ENV = ("MALLOC_ARENA_MAX", "PYTHONMALLOC")


def operator_env(root: Path = ROOT) -> dict[str, str]:
    """The environment the operator's image sets that changes how it runs (:data:`MEMORY_ENV`), read
    from its Dockerfile (the one under ``root``) so the benchmark runs the operator as it is shipped."""
    text = (root / OPERATOR_DOCKERFILE.relative_to(ROOT)).read_text()
    found = {name: re.search(rf"\b{name}=([\w.-]+)", text) for name in MEMORY_ENV}
    return {name: m.group(1) for name, m in found.items() if m}


def export_tree(ref: str, into: Path) -> Path:
    """The ``operator/`` and ``runtime/`` trees and the operator image's Dockerfile (its environment,
    :func:`operator_env`) of git ``ref`` exported into ``into`` (``git archive``: no worktree or other git
    state is made), for :func:`measure`'s ``code``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "operator", "runtime", "images/operator"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def code_path(code: Path) -> str:
    """``PYTHONPATH`` that makes the operator import ``code``'s packages before the installed (editable) ones;
    the benchmarks package (the probe) stays this tree's."""
    return os.pathsep.join([str(code / "operator"), str(code / "runtime"), str(ROOT)])
