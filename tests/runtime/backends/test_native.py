"""Native backend: launch decision, engine command, and the torchrun subprocess runner (no training)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from training_hub.backends.launch import TrainingProcessError, engine_command, run_command, write_params
from training_hub.backends.native import NativeBackend, engine_params
from training_hub.params import param_model

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("no_launcher_env")]

BASE = {"model_path": "/m", "data_path": "/d.jsonl", "ckpt_output_dir": "/out"}


def test_engine_params_are_the_full_model_dump() -> None:
    full = engine_params("osft", {**BASE, "unfreeze_rank_ratio": 0.3})
    assert full == param_model("osft")(**BASE, unfreeze_rank_ratio=0.3).model_dump()


def test_resolve_launch_launches_torchrun_only_from_a_plain_process(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = NativeBackend(algorithm="sft")
    _, torchrun, launch = backend.resolve_launch({**BASE, "nproc_per_node": 2})
    assert launch and torchrun["nproc_per_node"] == 2
    assert not backend.resolve_launch(dict(BASE))[2]
    monkeypatch.setenv("PET_NPROC_PER_NODE", "2")
    assert backend.resolve_launch(dict(BASE))[2]
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not backend.resolve_launch({**BASE, "nproc_per_node": 2})[2]


def test_callbacks_need_in_process_training(tmp_path: Path) -> None:
    backend = NativeBackend(algorithm="sft")
    with pytest.raises(ValueError, match="callbacks"):
        backend.execute_training(
            {**BASE, "ckpt_output_dir": str(tmp_path), "nproc_per_node": 2}, callbacks=[print]
        )


def test_params_file_and_engine_command(tmp_path: Path) -> None:
    full = engine_params("sft", {**BASE, "ckpt_output_dir": str(tmp_path / "o"), "nproc_per_node": 2})
    path = write_params("sft", full, tmp_path / "o")
    assert json.loads(path.read_text()) == json.loads(json.dumps(full))
    argv = engine_command("sft", path, {"nproc_per_node": 2, "nnodes": 1, "node_rank": 0, "rdzv_id": 0})
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"] and "--standalone" in argv
    assert argv[-6:] == ["-m", "training_hub.engine", "--algorithm", "sft", "--params", str(path)]
    with_summary = engine_command("sft", path, {"nproc_per_node": 2}, tmp_path / "s.json")
    assert with_summary[-2:] == ["--summary", str(tmp_path / "s.json")]


def test_run_command_forwards_output_and_logs(tmp_path: Path) -> None:
    sink = io.StringIO()
    log = tmp_path / "launch.log"
    code = "import sys; print('hello'); print('err', file=sys.stderr)"
    assert run_command([sys.executable, "-c", code], log_file=log, output=sink) == 0
    assert "hello" in sink.getvalue() and "err" in sink.getvalue()
    assert "hello" in log.read_text()


def test_run_command_failure_carries_exit_code_and_tail(tmp_path: Path) -> None:
    code = "import sys\nfor i in range(100): print('line', i)\nsys.exit(3)"
    with pytest.raises(TrainingProcessError) as err:
        run_command([sys.executable, "-c", code], log_file=tmp_path / "l.log", output=io.StringIO())
    assert err.value.returncode == 3 and err.value.exit_code == 3
    assert "line 99" in err.value.log_tail and "line 0\n" not in err.value.log_tail
    assert "exited with code 3" in str(err.value) and str(tmp_path / "l.log") in str(err.value)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): check its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_sigterm_stops_the_whole_process_group(tmp_path: Path) -> None:
    # The launched command starts a grandchild (like torchrun starts workers) and hangs.
    child = textwrap.dedent(
        """
        import subprocess, sys, time
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        print("grandchild", p.pid, flush=True)
        time.sleep(120)
        """
    )
    driver = textwrap.dedent(
        f"""
        import sys
        from training_hub.backends.launch import run_command
        run_command([sys.executable, "-c", {child!r}], grace=5)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = ""
    while "grandchild" not in line:
        line = proc.stdout.readline()
        assert line, "driver ended early"
    grandchild = int(line.split()[1])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild)


def test_stop_grace_follows_the_pods_grace_period() -> None:
    from training_hub.backends.launch import GRACE_SECONDS, stop_grace_seconds
    from training_hub.errors import InvalidInputError

    assert stop_grace_seconds({}) == GRACE_SECONDS
    assert stop_grace_seconds({"TRAINING_HUB_TERMINATION_GRACE_SECONDS": "120"}) == 115.0
    with pytest.raises(InvalidInputError, match="not a number"):
        stop_grace_seconds({"TRAINING_HUB_TERMINATION_GRACE_SECONDS": "2m"})


def test_sigterm_gives_torchrun_workers_the_pods_grace_not_30_seconds(tmp_path: Path) -> None:
    # A torchrun worker whose "preemption checkpoint" outlasts the grace: it gets SIGTERM first, then the
    # launcher and torchrun kill it when the pod's grace (9 s, less the 5 s margin) is over, not after
    # torchrun's and the launcher's fixed 30 s.
    worker = tmp_path / "worker.py"
    worker.write_text(
        textwrap.dedent(
            f"""
            import os, pathlib, signal, time
            out = pathlib.Path({str(tmp_path)!r})
            def on_term(*_):
                (out / "term").write_text("x")
                time.sleep(60)  # saving...
                (out / "saved").write_text("x")
            signal.signal(signal.SIGTERM, on_term)
            (out / "shutdown_timeout").write_text(os.environ.get("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", ""))
            print("ready", flush=True)
            time.sleep(120)
            """
        )
    )
    driver = textwrap.dedent(
        f"""
        from training_hub.backends.launch import run_command
        from training_hub.torchrun import torchrun_command
        run_command(torchrun_command({{"nproc_per_node": 1}}, [{str(worker)!r}]))
        """
    )
    env = {**os.environ, "TRAINING_HUB_TERMINATION_GRACE_SECONDS": "9", "OMP_NUM_THREADS": "1"}
    env.pop("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", None)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = ""
    while "ready" not in line:
        line = proc.stdout.readline()
        assert line, "driver ended early"
    assert (tmp_path / "shutdown_timeout").read_text() == "4"
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        assert proc.wait(timeout=25) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 25
    assert (tmp_path / "term").exists() and not (tmp_path / "saved").exists()
