"""The pod runs the engine the operator planned: a TrainingRun in local mode (``run --local``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from tests.support.runs import tiny_run
from training_hub.local import expand
from training_hub.local.runner import render_run, run_local
from training_hub.pod import exit_codes

pytestmark = pytest.mark.integration

IMAGE = "registry.example/custom-runtime:1"


def _manifest(tmp_path: Path, backend: str) -> Path:
    run = tiny_run(f"pinned-{backend}", nodes=1, max_steps=2)
    run["spec"]["backend"] = backend
    run["spec"]["runtime"] = {"image": IMAGE}
    path = tmp_path / f"{backend}.yaml"
    path.write_text(yaml.safe_dump(run))
    return path


def _run_json(objects: list[dict]) -> dict:
    """The run spec the pods receive (``TRAINING_HUB_RUN_SPEC`` of the training container)."""
    (pod,) = expand(objects)
    env = {e["name"]: e.get("value") for e in pod.container["env"]}
    return json.loads(env["TRAINING_HUB_RUN_SPEC"])  # type: ignore[no-any-return]


def test_auto_on_cpu_is_pinned_to_the_planned_engine(tmp_path: Path) -> None:
    manifest = yaml.safe_load(_manifest(tmp_path, "auto").read_text())
    spec = _run_json(render_run(manifest).objects)
    assert spec["engine"]["name"] == "native"
    assert spec["engine"]["image"] == IMAGE


def test_an_engine_the_image_lacks_fails_as_bad_input_naming_image_and_engine(tmp_path: Path) -> None:
    log = io.StringIO()
    rendered, result = run_local(
        _manifest(tmp_path, "unsloth"),
        root=tmp_path / "run",
        timeout=120,
        output=log,
        extra_env={"OMP_NUM_THREADS": "1"},
    )
    assert _run_json(rendered.objects)["engine"]["name"] == "unsloth"
    assert not result.succeeded, log.getvalue()[-3000:]
    assert f"exited with {exit_codes.INVALID_INPUT}" in log.getvalue()
    assert "retrying" not in log.getvalue()  # bad input is not retried
    assert "planned engine unsloth" in result.message and IMAGE in result.message, result.message
