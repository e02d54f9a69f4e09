"""The runtime's Prometheus exporter and health guard, fed by the real engine."""

from __future__ import annotations

import math
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.controlplane.cluster import free_port
from tests.support.tiny_training import read_metrics
from training_hub.observability.exporter import MetricsExporter
from training_hub.observability.guards import TrainingDivergedError

EXPECTED = {
    "traininghub_training_step",
    "traininghub_training_total_steps",
    "traininghub_training_epoch",
    "traininghub_training_loss",
    "traininghub_training_learning_rate",
    "traininghub_training_grad_norm",
    "traininghub_training_tokens_per_second",
    "traininghub_training_samples",  # counter family (samples_total)
    "traininghub_training_tokens",
    "traininghub_training_checkpoints",
    "traininghub_training_last_checkpoint_timestamp_seconds",
    "traininghub_training_last_step_timestamp_seconds",
    "traininghub_training_eta_timestamp_seconds",
    "traininghub_training_info",
}


def scrape(url: str) -> dict[str, float]:
    """``{name{labels}: value}`` of a /metrics page (labels sorted, run labels dropped)."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            extra = {k: v for k, v in s.labels.items() if k not in ("namespace", "run")}
            key = s.name + (
                "{" + ",".join(f"{k}={v}" for k, v in sorted(extra.items())) + "}" if extra else ""
            )
            out[key] = s.value
    return out


def family_names(url: str) -> set[str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return {f.name for f in text_string_to_metric_families(resp.read().decode())}


@pytest.mark.unit
def test_exporter_serves_the_documented_metrics() -> None:
    exporter = MetricsExporter(
        0, host="127.0.0.1", namespace="ns", run="r1", algorithm="sft", clock=lambda: 1000.0
    )
    try:
        exporter.on_step(
            {
                "step": 1,
                "total_steps": 4,
                "epoch": 0,
                "loss": 2.5,
                "lr": 1e-3,
                "grad_norm": 3.0,
                "tokens": 100,
                "samples_seen": 8,
                "tokens_per_second": 50.0,
                "elapsed": 1.0,
            }
        )
        exporter.on_step(
            {
                "step": 2,
                "total_steps": 4,
                "epoch": 0,
                "loss": 2.0,
                "lr": 5e-4,
                "grad_norm": None,
                "tokens": 120,
                "samples_seen": 16,
                "tokens_per_second": 60.0,
                "elapsed": 2.0,
            }
        )
        exporter.on_checkpoint("/x/hf_format/samples_16", "hf")
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        assert family_names(url) >= EXPECTED
        m = scrape(url)
        assert m["traininghub_training_step"] == 2 and m["traininghub_training_total_steps"] == 4
        assert m["traininghub_training_loss"] == 2.0 and m["traininghub_training_learning_rate"] == 5e-4
        assert m["traininghub_training_grad_norm"] == 3.0  # a non-finite norm (None) keeps the last value
        assert m["traininghub_training_samples_total"] == 16 and m["traininghub_training_tokens_total"] == 220
        assert m["traininghub_training_checkpoints_total{kind=hf}"] == 1
        assert m["traininghub_training_last_checkpoint_timestamp_seconds"] == 1000.0
        assert (
            m[
                "traininghub_training_info{algorithm=sft,pod="
                + os.environ.get("HOSTNAME", "")
                + ",role=rank0}"
            ]
            == 1
        )
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert 'run="r1"' in resp.read().decode()
    finally:
        exporter.stop()


def _params(tiny_model_dir: Path, messages_data: Path, out: Path, **extra: Any) -> dict[str, Any]:
    return {
        "model_path": str(tiny_model_dir),
        "data_path": str(messages_data),
        "ckpt_output_dir": str(out),
        "effective_batch_size": 8,
        "max_seq_len": 128,
        "learning_rate": 1e-3,
        "num_epochs": 1,
        "max_steps": 6,
        "save_samples": 24,
        **extra,
    }


@pytest.mark.integration
def test_engine_serves_metrics_matching_its_metrics_file(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training_hub.engine import run_training

    port = free_port()
    monkeypatch.setenv("TRAINING_HUB_METRICS_PORT", str(port))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    url = f"http://127.0.0.1:{port}/metrics"
    seen: list[tuple[dict[str, Any], dict[str, float]]] = []

    class Probe:  # runs after the exporter (user callbacks come after the runtime's)
        def on_step(self, row: dict[str, Any]) -> None:
            seen.append((dict(row), scrape(url)))

    out = tmp_path / "out"
    summary = run_training("sft", _params(tiny_model_dir, messages_data, out), callbacks=[Probe()])
    rows = read_metrics(out)
    assert len(seen) == summary["steps"] == 6
    for row, m in seen:
        assert m["traininghub_training_step"] == row["step"]
        assert m["traininghub_training_total_steps"] == 6
        assert m["traininghub_training_loss"] == pytest.approx(rows[row["step"] - 1]["loss"])
        assert m["traininghub_training_learning_rate"] == pytest.approx(row["lr"])
        assert m["traininghub_training_samples_total"] == row["samples_seen"]
        assert m["traininghub_training_epoch"] == pytest.approx(
            row["step"] / row["steps_per_epoch"], abs=1e-3
        )
    # save_samples=24 with 8 samples per step: checkpoints after steps 3 and 6 were counted by then.
    last = seen[-1][1]
    assert last["traininghub_training_checkpoints_total{kind=hf}"] >= 1
    assert math.isfinite(last["traininghub_training_last_checkpoint_timestamp_seconds"])


@pytest.mark.integration
def test_diverging_loss_stops_training_with_a_clear_error(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training_hub.engine import run_training

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TRAINING_HUB_DIVERGENCE_PATIENCE", "3")
    monkeypatch.delenv("TRAINING_HUB_METRICS_PORT", raising=False)
    out = tmp_path / "out"
    # A learning rate of 1.0 without clipping blows the tiny model up within a few steps.
    params = _params(
        tiny_model_dir,
        messages_data,
        out,
        learning_rate=1.0,
        max_grad_norm=0.0,
        max_steps=60,
        num_epochs=3,
        save_samples=0,
    )
    with pytest.raises(TrainingDivergedError, match="training diverged: the smoothed loss rose to") as err:
        run_training("sft", params)
    assert err.value.exit_code == 3
    rows = read_metrics(out)
    assert len(rows) < 60  # stopped early
    assert max(r["loss"] for r in rows) > 4 * rows[0]["loss"]


@pytest.mark.unit
def test_worker_nodes_serve_only_their_identity() -> None:
    from training_hub.observability.auto import worker_endpoint

    assert worker_endpoint("sft", {}) is None  # no port asked for
    endpoint = worker_endpoint("sft", {"TRAINING_HUB_METRICS_PORT": "0", "TRAINING_HUB_RUN": "ns/r1"})
    assert endpoint is not None
    try:
        url = f"http://127.0.0.1:{endpoint.port}/metrics"
        assert family_names(url) == {"traininghub_training_info"}
        (key,) = scrape(url)
        assert "role=worker" in key
    finally:
        endpoint._server.shutdown()
        endpoint._server.server_close()
