"""Exit codes 3 (bad input) and 4 (infrastructure) survive torchrun, which reports 1 for any failed worker:
each rank records its code and the launcher reads them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub.backends.launch import TrainingProcessError, engine_command, run_command
from training_hub.pod import exit_codes

pytestmark = pytest.mark.integration


def _launch(tmp_path: Path, params: object, nproc: int, env: dict[str, str] | None = None) -> int:
    import io
    import os

    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params))
    argv = engine_command("sft", params_file, {"nproc_per_node": nproc})
    run_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with pytest.raises(TrainingProcessError) as info:
        run_command(argv, log_file=tmp_path / "launch.log", env=run_env, output=io.StringIO())
    return info.value.exit_code


def test_bad_input_exits_3_through_torchrun(tmp_path: Path) -> None:
    # a parameters file that is not an object: every rank exits 3, torchrun itself returns 1
    assert _launch(tmp_path, ["not", "an", "object"], nproc=2) == exit_codes.INVALID_INPUT


def test_infrastructure_failure_exits_4_through_torchrun(tmp_path: Path) -> None:
    params = {"model_path": "m", "data_path": "d", "ckpt_output_dir": str(tmp_path / "out")}
    code = _launch(tmp_path, params, nproc=2, env={"TRAINING_HUB_DIST_TIMEOUT": "soon"})
    assert code == exit_codes.INFRASTRUCTURE


@pytest.mark.unit
def test_recorded_codes_combine(tmp_path: Path) -> None:
    def codes(*values: int) -> int:
        d = tmp_path / "-".join(map(str, values))
        d.mkdir()
        for rank, value in enumerate(values):
            exit_codes.record_exit_code(value, {exit_codes.ENV_EXIT_CODE_DIR: str(d), "RANK": str(rank)})
        return exit_codes.recorded_exit_code(str(d), 1)

    assert codes(3, 4) == 3
    assert codes(4, 4) == 4
    assert codes(1, 4) == 1  # a rank's own failure, its peers then lose it
    assert codes(143, 4) == 143
    assert codes(0, 0) == 1  # nothing recorded: torchrun's code
