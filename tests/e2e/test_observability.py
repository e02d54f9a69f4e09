"""End to end: TrainingRuns on the local control plane, the real operator, pods run by the local kubelet.

One run trains (progress rises in ``status.progress`` while ``Running``, the loss is reported, events for
every milestone, metrics scraped over HTTP from the operator and from the training pod, ``kubectl wait`` on
``Succeeded``, ``training-hub status`` prints the curve and writes a PNG that holds it); two runs fail and
say why in words (a diverging loss; a bad data line). A run whose pod never steps becomes ``Stalled``.

The training pods report progress with a ServiceAccount token that has exactly the documented runtime Role.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane, free_port, wait_until
from tests.runtime.observability.test_exporter import EXPECTED, family_names, scrape
from tests.support.planes import runtime_kubeconfig
from tests.support.runs import tiny_run
from training_hub.local import LocalExecutor
from training_hub.local.kubelet import LocalKubelet

RUN_TIMEOUT = 300.0


def get_run(api: Any, namespace: str, name: str) -> dict[str, Any]:
    from kubernetes import client

    return client.CustomObjectsApi(api).get_namespaced_custom_object(  # type: ignore[no-any-return]
        "traininghub.io", "v1alpha1", namespace, "trainingruns", name
    )


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def with_env(run: dict[str, Any], env: dict[str, str], **hyper: Any) -> dict[str, Any]:
    run["spec"].setdefault("runtime", {})["env"] = [{"name": k, "value": v} for k, v in env.items()]
    run["spec"]["hyperparameters"].update(hyper)
    return run


def metric_value(metrics: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


@pytest.mark.e2e
def test_runs_report_progress_metrics_events_and_failure_reasons(
    obs_plane: ControlPlane, namespace: str, operator_factory: Any, tmp_path: Path
) -> None:
    operator = operator_factory(namespaces=[namespace], env={"TRAINING_HUB_RESYNC_SECONDS": "2"})
    kubeconfig = runtime_kubeconfig(obs_plane, namespace, tmp_path / "runtime-kubeconfig")
    port = free_port()
    good, diverge, bad = "progress", "diverge", "bad-data"
    steps = 300
    obs_plane.apply(
        with_env(
            tiny_run(good, nodes=1, max_steps=steps, save_samples=800),
            {"TRAINING_HUB_METRICS_PORT": str(port), "TRAINING_HUB_PROGRESS_INTERVAL": "0.5"},
            num_epochs=60,
            checkpoint_at_epoch=False,
        ),
        namespace=namespace,
    )
    obs_plane.apply(
        with_env(
            tiny_run(diverge, nodes=1, max_steps=80, backoff_limit=0),
            {
                "TRAINING_HUB_DIVERGENCE_FACTOR": "2",
                "TRAINING_HUB_DIVERGENCE_PATIENCE": "3",
                "TRAINING_HUB_METRICS_PORT": "off",
            },
            learning_rate=1.0,
            max_grad_norm=0.0,
            num_epochs=20,
        ),
        namespace=namespace,
    )
    claims = tmp_path / "claims"
    (claims / "data").mkdir(parents=True)
    lines = [
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})
    ]
    (claims / "data" / "bad.jsonl").write_text(
        "\n".join([lines[0], lines[0], '{"messages": [', lines[0]]) + "\n"
    )
    bad_run = with_env(tiny_run(bad, nodes=1, backoff_limit=0), {"TRAINING_HUB_METRICS_PORT": "off"})
    bad_run["spec"]["data"]["uri"] = "pvc://data/bad.jsonl"
    obs_plane.apply(bad_run, namespace=namespace)

    log = io.StringIO()
    executor = LocalExecutor(
        tmp_path / "root",
        pvc_root=claims,
        output=log,
        extra_env={"OMP_NUM_THREADS": "1", "TRAINING_HUB_KUBECONFIG": str(kubeconfig)},
    )
    api = obs_plane.api_client()
    observed: list[tuple[str, int | None, int | None]] = []
    runtime_scrapes: list[dict[str, float]] = []
    runtime_names: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                st = get_run(api, namespace, good).get("status") or {}
                p = st.get("progress") or {}
                observed.append((str(st.get("phase")), p.get("step"), p.get("percent")))
                if st.get("phase") == "Running" and p.get("step") and len(runtime_scrapes) < 3:
                    url = f"http://127.0.0.1:{port}/metrics"
                    runtime_scrapes.append(scrape(url))
                    runtime_names.update(family_names(url))
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    with LocalKubelet(api, namespace, executor):
        watcher.start()
        try:
            waited = obs_plane.kubectl(
                "wait",
                "--for=condition=Succeeded",
                f"trainingrun/{good}",
                "-n",
                namespace,
                f"--timeout={int(RUN_TIMEOUT)}s",
                check=False,
                timeout=RUN_TIMEOUT + 30,
            )
            for name in (diverge, bad):
                obs_plane.kubectl(
                    "wait",
                    "--for=condition=Failed",
                    f"trainingrun/{name}",
                    "-n",
                    namespace,
                    "--timeout=120s",
                    check=False,
                    timeout=150,
                )
        finally:
            stop.set()
            watcher.join(timeout=10)
    pod_log = "\n".join(x for x in log.getvalue().splitlines() if "] step " not in x)  # no per-step lines
    context = f"\n--- pods ---\n{pod_log[-6000:]}\n--- operator ---\n{operator.log_tail()}"
    assert waited.returncode == 0, f"{waited.stderr}{context}"

    # ---- the successful run: phases, progress rising while Running, the loss, printer columns
    status = get_run(api, namespace, good)["status"]
    assert status["phase"] == "Succeeded", context
    phases = [ph for ph, _, _ in observed]
    order = ["Pending", "Planning", "Queued", "Running", "Succeeded"]
    ranks = [order.index(ph) for ph in phases if ph in order]
    assert ranks == sorted(ranks), phases  # never goes back
    running_steps = [s for ph, s, _ in observed if ph == "Running" and s is not None]
    assert len(set(running_steps)) >= 2, f"progress was not seen rising while Running: {observed}{context}"
    assert running_steps == sorted(running_steps) and running_steps[0] < steps
    p = status["progress"]
    rows = [
        json.loads(x) for x in (claims / "out" / good / "training_metrics.jsonl").read_text().splitlines()
    ]
    assert p["step"] == p["totalSteps"] == steps and p["percent"] == 100
    assert p["loss"] == pytest.approx(rows[-1]["loss"], rel=1e-5)
    assert p["samplesSeen"] == rows[-1]["samples_seen"]
    assert p["lastCheckpoint"] == f"pvc://out/{good}/hf_format/final"
    assert len(p["lossHistory"]["losses"]) > 10 and p["lossHistory"]["steps"][-1] == steps
    assert p["predictedSeconds"] > 0 and p["elapsedSeconds"] > 0
    cond = conditions(status)
    assert cond["Succeeded"]["status"] == "True" and cond["Succeeded"]["reason"]
    assert cond["Ready"]["status"] == "True" and cond["Ready"]["reason"] == "Succeeded"
    assert cond["Running"]["status"] == "False"
    usage = status["usage"]
    assert usage["wallSeconds"] > 0 and usage["gpus"] == 0 and usage["gpuSeconds"] == 0
    assert usage["predictedSeconds"] == p["predictedSeconds"] and usage["actualToPredicted"] > 0
    table = obs_plane.kubectl("get", "tr", good, "-n", namespace).stdout.splitlines()
    header, line = table[0].split(), table[1].split()
    assert {"PHASE", "PROGRESS", "LOSS", "AGE"} <= set(header)
    assert line[header.index("PHASE")] == "Succeeded" and line[header.index("PROGRESS")] == "100"
    assert float(line[header.index("LOSS")]) == pytest.approx(rows[-1]["loss"], rel=1e-3)

    # ---- events for every milestone
    milestones = ("Launched", "Running", "CheckpointSaved", "Succeeded")
    events = obs_plane.events_for(namespace, good, reasons=milestones)
    reasons = [e["reason"] for e in events]
    for expected in milestones:
        assert expected in reasons, f"{expected} not in {reasons}"
    # The plan ("Fixed") is folded into the launching reconcile's one Event (events.fold_events).
    assert any("Fixed: " in e["message"] for e in events if e["reason"] == "Launched"), events

    # ---- runtime metrics scraped over HTTP while training
    assert runtime_scrapes, f"the training pod's metrics were never scraped{context}"
    assert runtime_names >= EXPECTED
    for m in runtime_scrapes:
        step = int(m["traininghub_training_step"])
        assert 1 <= step <= steps and m["traininghub_training_total_steps"] == steps
        near = [
            r["loss"] for r in rows if abs(r["step"] - step) <= 1
        ]  # a scrape may fall between two updates
        assert any(m["traininghub_training_loss"] == pytest.approx(v) for v in near)
        assert m["traininghub_training_samples_total"] >= 8 * (step - 1)

    # ---- failures say why
    st_div = get_run(api, namespace, diverge)["status"]
    st_bad = get_run(api, namespace, bad)["status"]
    assert st_div["phase"] == "Failed", f"{st_div}{context}"
    assert conditions(st_div)["Failed"]["reason"] == "TrainingDiverged", st_div
    assert "training diverged" in conditions(st_div)["Failed"]["message"]
    assert conditions(st_div)["Ready"]["reason"] == "TrainingDiverged"
    assert st_bad["phase"] == "Failed", f"{st_bad}{context}"
    assert conditions(st_bad)["Failed"]["reason"] == "InvalidData", st_bad
    assert "bad data line pvc://data/bad.jsonl:3" in conditions(st_bad)["Failed"]["message"]
    diverge_events = obs_plane.events_for(namespace, diverge, reasons=("Failed",))
    failed_events = [e for e in diverge_events if e["reason"] == "Failed"]
    assert failed_events and failed_events[0]["type"] == "Warning"
    assert "TrainingDiverged" in failed_events[0]["message"]

    # ---- operator metrics over HTTP
    def two_failed() -> dict[str, float] | None:
        m = scrape(operator.metrics_url)  # events are posted a moment after the status write
        failed_events = m.get("traininghub_events_total{reason=Failed,type=Warning}", 0)
        return m if m.get("traininghub_runs{phase=Failed}") == 2 and failed_events >= 2 else None

    om = wait_until(
        two_failed,
        timeout=30,
        message="operator metrics show two failed runs",
    )
    assert om["traininghub_runs{phase=Succeeded}"] == 1
    assert metric_value(om, "traininghub_reconcile_total{result=ok") > 0
    assert om["traininghub_status_writes_total"] > 0
    assert om["traininghub_events_total{reason=Launched,type=Normal}"] >= 3
    assert om["traininghub_events_total{reason=Failed,type=Warning}"] >= 2

    # ---- training-hub status: summary with a sparkline, and a PNG that holds the curve
    from training_hub.cli.main import main as cli

    png = tmp_path / "loss.png"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(
            ["status", good, "-n", namespace, "--kubeconfig", str(obs_plane.kubeconfig), "--png", str(png)]
        )
    text = out.getvalue()
    assert code == 0, text
    assert f"TrainingRun {namespace}/{good}" in text and "Succeeded" in text
    assert f"step {steps}/{steps} (100%)" in text
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")
    assert "CheckpointSaved" in text and "Ready" in text
    assert_png_holds_curve(png)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(["status", "-n", namespace, "--kubeconfig", str(obs_plane.kubeconfig)]) == 0
    listing = out.getvalue()
    assert good in listing and diverge in listing and "100%" in listing
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert cli(["status", "missing", "-n", namespace, "--kubeconfig", str(obs_plane.kubeconfig)]) == 1
    assert "not found" in err.getvalue()


def assert_png_holds_curve(path: Path) -> None:
    """The PNG has a visible line in the first plot colour spanning most of the width."""
    import matplotlib.colors as mcolors
    import matplotlib.image as mpimg
    import numpy as np

    from training_hub.visualization import COLORS

    img = mpimg.imread(path)[..., :3]
    target = np.array(mcolors.to_rgb(COLORS[0]))
    mask = np.abs(img - target).sum(axis=-1) < 0.15
    cols = np.nonzero(mask.any(axis=0))[0]
    assert mask.sum() > 200, f"no curve pixels in {path}"
    assert cols.max() - cols.min() > img.shape[1] * 0.5  # the curve spans the plot


@pytest.mark.integration
def test_a_run_without_steps_becomes_stalled_and_recovers(
    obs_plane: ControlPlane, namespace: str, operator_factory: Any
) -> None:
    operator = operator_factory(namespaces=[namespace], env={"TRAINING_HUB_RESYNC_SECONDS": "1"})
    name = "hung"
    run = tiny_run(name, nodes=1)
    run["metadata"]["annotations"] = {"traininghub.io/stall-timeout": "3s"}
    obs_plane.apply(run, namespace=namespace)
    # No kubelet: the Job's pod exists but never steps, like a hung collective. The run is Running once its
    # pod runs (a Pending pod keeps it Queued), so the test reports the pod running, as a kubelet would.
    from kubernetes import client

    core = client.CoreV1Api(obs_plane.api_client())
    pods = wait_until(
        lambda: core.list_namespaced_pod(namespace, label_selector=f"traininghub.io/run={name}").items,
        60,
        message="the Job's pod",
    )
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    running = {"running": {"startedAt": now}}
    core.patch_namespaced_pod_status(
        pods[0].metadata.name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "startTime": now,
                "containerStatuses": [
                    {
                        "name": "trainer",
                        "state": running,
                        "ready": True,
                        "restartCount": 0,
                        "image": "x",
                        "imageID": "",
                    }
                ],
            }
        },
    )
    waited = obs_plane.kubectl(
        "wait",
        "--for=condition=Stalled",
        f"trainingrun/{name}",
        "-n",
        namespace,
        "--timeout=90s",
        check=False,
        timeout=120,
    )
    status = obs_plane.kubectl_json("get", "trainingrun", name, "-n", namespace)["status"]
    assert waited.returncode == 0, status
    stalled = conditions(status)["Stalled"]
    assert status["phase"] == "Running"
    assert stalled["reason"] == "NoProgress" and "stall timeout of 3s" in stalled["message"]
    assert conditions(status)["Ready"]["reason"] == "NoProgress"
    warnings = [
        e
        for e in obs_plane.events_for(namespace, name, reasons=("NoProgress",))
        if e["reason"] == "NoProgress"
    ]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    assert scrape(operator.metrics_url)["traininghub_runs_stalled"] == 1
    # A step arrives (as the training pod would report it): the stall clears.
    from training_hub.observability.tracker import rfc3339

    progress = {"step": 1, "totalSteps": 4, "lastStepTime": rfc3339(time.time() + 30)}
    obs_plane.patch_status("trainingrun", namespace, name, {"progress": progress})
    wait_until(
        lambda: (
            conditions(obs_plane.kubectl_json("get", "trainingrun", name, "-n", namespace)["status"])[
                "Stalled"
            ]["status"]
            == "False"
        ),
        timeout=60,
        message="Stalled cleared after a step",
    )
    wait_until(lambda: scrape(operator.metrics_url)["traininghub_runs_stalled"] == 0, timeout=30)
