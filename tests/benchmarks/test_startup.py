"""The startup benchmark's probe: phases of process start to first step, cold and warm data cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.startup import PHASES, run, table

pytestmark = pytest.mark.integration


def test_startup_phases_add_up(tmp_path: Path) -> None:
    res = run(tmp_path, samples=24, repeats=1)
    for kind in ("cold", "warm"):
        (phases,) = res["runs"][kind]
        assert all(phases[name] >= 0 for name in PHASES), phases
        assert sum(phases[name] for name in PHASES) == pytest.approx(phases["total"], rel=1e-6)
        assert phases["import torch"] > 0 and phases["first step"] > 0
    assert "total to first step" in table(res)
