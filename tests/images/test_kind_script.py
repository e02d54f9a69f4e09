"""images/kind/kind-up.sh: its steps, printed with DRY_RUN=1, replayed on the local control plane.

kind and Docker cannot run here; the chart install step can. The test takes the exact `helm upgrade
--install` line the script would run (release, chart, namespace, values file, --set-string), performs it
with Helm (helm-sdkpy), then checks the object its `kubectl rollout status` line waits for exists and runs
the images the script builds and loads.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm import find, manifest_objects, uninstall, upgrade
from tests.controlplane.cluster import ControlPlane

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "images" / "kind" / "kind-up.sh"


def dry_run(**env: str) -> list[list[str]]:
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DRY_RUN": "1", **env},
        check=True,
    )
    return [shlex.split(line) for line in proc.stdout.splitlines() if line.strip()]


def set_values(values: dict[str, Any], assignments: str) -> None:
    for item in assignments.split(","):
        key, _, val = item.partition("=")
        node = values
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = val


@pytest.mark.unit
def test_script_is_valid_bash_and_runs_every_step() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    programs = [cmd[0:2] for cmd in dry_run(OPERATOR_IMAGE="op:1", RUNTIME_IMAGE="rt:2")]
    assert programs == [
        ["kind", "create"],
        ["docker", "build"],
        ["kind", "load"],
        ["docker", "build"],
        ["kind", "load"],
        ["helm", "upgrade"],
        ["kubectl", "--namespace"],
    ]
    builds = [c for c in dry_run() if c[:2] == ["docker", "build"]]
    for build in builds:
        dockerfile = Path(build[build.index("-f") + 1])
        assert dockerfile.is_file() and Path(build[-1]) == REPO  # the context is the repository root
    assert len([c for c in dry_run(SKIP_RUNTIME="1") if c[:2] == ["docker", "build"]]) == 1


@pytest.mark.integration
def test_script_install_step_on_the_control_plane(control_plane: ControlPlane) -> None:
    release, namespace = f"kind-{uuid.uuid4().hex[:5]}", f"kind-ns-{uuid.uuid4().hex[:5]}"
    operator_image, runtime_image = "training-hub-operator:test1", "training-hub-runtime:test2"
    commands = dry_run(
        RELEASE=release, NAMESPACE=namespace, OPERATOR_IMAGE=operator_image, RUNTIME_IMAGE=runtime_image
    )
    loaded = {c[3] for c in commands if c[:3] == ["kind", "load", "docker-image"]}
    assert loaded == {operator_image, runtime_image}

    (cmd,) = [c for c in commands if c[:3] == ["helm", "upgrade", "--install"]]
    rel_name, chart = cmd[3], cmd[4]
    values: dict[str, Any] = {}
    opts = cmd[5:]
    for flag, arg in zip(opts, opts[1:], strict=False):
        if flag == "--values":
            values.update(yaml.safe_load(Path(arg).read_text()))
        elif flag == "--set-string":
            set_values(values, arg)
    ns = opts[opts.index("--namespace") + 1]
    assert "--create-namespace" in opts
    assert (rel_name, ns) == (release, namespace)

    # The script's own `helm upgrade --install` request, replayed as the script states it.
    rel = upgrade(
        control_plane.kubeconfig, rel_name, ns, values, chart=chart, install=True, create_namespace=True
    )
    try:
        (rollout,) = [c for c in commands if c[0] == "kubectl"]
        deployment = control_plane.kubectl_json("get", rollout[rollout.index("status") + 1], "-n", ns)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == operator_image
        assert container["imagePullPolicy"] == "IfNotPresent"
        runtime_env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert runtime_image in (runtime_env.get("TRAINING_HUB_DEFAULT_IMAGE"), *container.get("args", []))
        assert (
            find(manifest_objects(rel), "ServiceAccount", "training-hub-runtime")[0]["metadata"]["namespace"]
            == "default"
        )
    finally:
        uninstall(control_plane.kubeconfig, rel_name, ns)
