"""``training-hub status`` rendering without a cluster (the e2e test runs it against one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub.cli.status import loss_curve, render_summary, render_table, write_png
from training_hub.errors import InvalidInputError
from training_hub.observability.sparkline import BARS
from training_hub.observability.tracker import rfc3339

pytestmark = pytest.mark.unit

T0 = 1_780_000_000.0


def run_obj(phase: str = "Running") -> dict:
    steps = list(range(1, 41))
    return {
        "metadata": {"name": "r1", "namespace": "team", "creationTimestamp": rfc3339(T0)},
        "spec": {"algorithm": "sft", "model": {"uri": "hf://org/m"}},
        "status": {
            "phase": phase,
            "plan": {"nodes": 2, "gpusPerNode": 8, "perGpu": {"expected": "61.2Gi"}},
            "launcher": {"name": "pytorchjob"},
            "progress": {
                "step": 40,
                "totalSteps": 100,
                "percent": 40,
                "epoch": 0.4,
                "samplesSeen": 640,
                "loss": 1.23456,
                "tokensPerSecond": 5120.0,
                "eta": rfc3339(T0 + 600),
                "lastStepTime": rfc3339(T0 + 290),
                "lastCheckpoint": "pvc://out/r1/hf_format/samples_512",
                "lossHistory": {"steps": steps, "losses": [5.0 / s for s in steps]},
            },
            "usage": {"wallSeconds": 300.0, "gpus": 16, "gpuSeconds": 4800.0, "predictedSeconds": 700.0},
            "conditions": [
                {"type": "Running", "status": "True", "reason": "NodesRunning", "message": "2 active"},
                {"type": "Ready", "status": "False", "reason": "Training", "message": "step 40/100"},
            ],
        },
    }


def test_summary_shows_progress_usage_conditions_events_and_a_sparkline() -> None:
    events = [
        {
            "type": "Normal",
            "reason": "CheckpointSaved",
            "message": "checkpoint saved",
            "lastTimestamp": rfc3339(T0 + 200),
        }
    ]
    text = render_summary(run_obj(), events, now=T0 + 300, width=20)
    assert "TrainingRun team/r1" in text and "Phase:      Running (age 5m00s)" in text
    assert "2 node(s) x 8 GPU(s), ~61.2Gi per GPU via pytorchjob" in text
    assert "step 40/100 (40%)  epoch 0.4  samples 640" in text
    assert (
        "loss 1.2346" in text
        and "5120 tok/s" in text
        and "(in 5m00s)" in text
        and "last step 10s ago" in text
    )
    assert "pvc://out/r1/hf_format/samples_512" in text
    assert "4800 GPU-seconds; predicted 11m40s" in text
    spark = next(line for line in text.splitlines() if line.strip().startswith("Loss:")).split()[1]
    assert len(spark) == 20 and set(spark) <= set(BARS) and spark[0] == BARS[-1] and spark[-1] == BARS[0]
    assert "Ready      False   Training" in text and "CheckpointSaved" in text


def test_table_lists_runs() -> None:
    done = run_obj("Succeeded")
    done["metadata"]["name"] = "r2"
    done["status"]["progress"]["percent"] = 100
    table = render_table([run_obj(), done, {"metadata": {"name": "new"}}], now=T0 + 60).splitlines()
    assert table[0].split() == ["NAME", "PHASE", "PROGRESS", "LOSS", "ETA", "AGE"]
    assert table[1].split()[:4] == ["r1", "Running", "40%", "1.2346"]
    assert table[2].split()[:5] == ["r2", "Succeeded", "100%", "1.2346", "-"]
    assert table[3].split()[:3] == ["new", "Pending", "-"]


def test_png_from_status_or_a_metrics_dir(tmp_path: Path) -> None:
    from tests.e2e.test_observability import assert_png_holds_curve

    path = write_png(loss_curve(run_obj()), "r1", str(tmp_path / "a.png"))
    assert_png_holds_curve(Path(path))
    out = tmp_path / "run"
    out.mkdir()
    (out / "training_metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 3.0 - s / 100}) + "\n" for s in range(1, 201))
    )
    steps, losses, source = loss_curve(run_obj(), str(out))
    assert len(losses) == 200 and source.endswith("training_metrics.jsonl")
    assert_png_holds_curve(Path(write_png((steps, losses, source), "r1", str(tmp_path / "b.png"))))
    empty = run_obj()
    empty["status"]["progress"].pop("lossHistory")
    with pytest.raises(InvalidInputError, match="no loss values yet"):
        write_png(loss_curve(empty), "r1", str(tmp_path / "c.png"))


def test_status_without_credentials_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from training_hub.cli.main import main as cli

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("TRAINING_HUB_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cli(["status", "r1"]) == 2
    assert "no cluster credentials" in capsys.readouterr().err
    bad = tmp_path / "kc"
    bad.write_text("not: [a kubeconfig")
    assert cli(["status", "r1", "--kubeconfig", str(bad)]) == 2
    assert "cannot use kubeconfig" in capsys.readouterr().err


def test_local_execution_keeps_the_run_identity_when_a_host_has_the_same_name() -> None:
    from training_hub.local.environment import LoopbackNetwork

    net = LoopbackNetwork()
    net.add_services([{"metadata": {"name": "progress", "namespace": "ns"}}])
    assert net.map_value("MASTER_ADDR", "progress") == "127.0.0.1"
    assert net.map_value("TRAINING_HUB_RUN_NAME", "progress") == "progress"


KUBECONFIG_TWO_CONTEXTS = """
apiVersion: v1
kind: Config
current-context: team
contexts:
- name: other
  context: {cluster: c1, user: u1, namespace: elsewhere}
- name: team
  context: {cluster: c1, user: u1, namespace: ml-team}
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:6443/", insecure-skip-tls-verify: true}
users:
- name: u1
  user: {token: abc}
"""


def test_the_cli_and_the_reporter_read_the_same_current_context(tmp_path: Path) -> None:
    from training_hub.cli.status import _default_namespace
    from training_hub.observability.kubeapi import KubeConnection

    path = tmp_path / "config"
    path.write_text(KUBECONFIG_TWO_CONTEXTS)
    assert _default_namespace(str(path)) == "ml-team"
    connection = KubeConnection.from_kubeconfig(path)
    assert connection.server == "https://127.0.0.1:6443"
    assert connection.token == "abc"
    path.write_text(KUBECONFIG_TWO_CONTEXTS.replace("current-context: team", "current-context: gone"))
    assert _default_namespace(str(path)) != "ml-team"  # no such context: the CLI falls back
