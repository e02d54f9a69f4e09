"""Upstream training_hub's own CPU test file ``tests/test_callbacks.py`` passes against our package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.upstream import upstream_root

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
#: Upstream tests that need a package this environment does not have (CUDA-only engines).
NEEDS_ABSENT_ENGINE = re.compile(r"(instructlab-training|mini_trainer) not installed")


@pytest.mark.integration
def test_upstream_test_callbacks_passes_against_our_package(tmp_path: Path) -> None:
    source = upstream_root() / "tests" / "test_callbacks.py"
    shutil.copy(source, tmp_path / "test_callbacks.py")
    env = {**os.environ, "PYTHONPATH": f"{RUNTIME}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "test_callbacks.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    passed = int(re.search(r"(\d+) passed", out).group(1))  # type: ignore[union-attr]
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert all(NEEDS_ABSENT_ENGINE.search(line) for line in skips), skips
    assert passed >= 25 and not re.search(r"\d+ (failed|error)", out), out[-3000:]
