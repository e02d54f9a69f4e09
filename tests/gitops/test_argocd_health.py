"""The Argo CD health check (charts/training-hub/files/argocd-health.lua) run by a real Lua interpreter on
statuses built from the operator's pydantic status models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gitops.lua_health import ARGO_STATUSES, HEALTH_LUA, argo_health, lua_interpreters
from training_hub_operator.api.status import (
    CONDITION_TYPES,
    PHASES,
    Condition,
    Plan,
    Progress,
    TrainingRunStatus,
)

pytestmark = pytest.mark.unit

T0 = "2026-01-01T00:00:00Z"


def cond(type_: str, status: str, reason: str, message: str = "", generation: int = 1) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=T0,
        observed_generation=generation,
    )  # type: ignore[arg-type]


def run(status: TrainingRunStatus | None, *, generation: int = 1, dry_run: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "traininghub.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r", "namespace": "ns", "generation": generation},
        "spec": {"algorithm": "sft", "dryRun": dry_run},
    }
    if status is not None:
        obj["status"] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return obj


PLAN = Plan(nodes=1, gpus_per_node=2, total_gpus=2, source="estimated", message="2 GPUs fit 61Gi")


def test_the_interpreters_are_real_lua_5_4_and_5_1() -> None:
    import subprocess

    versions = []
    for lua in lua_interpreters():
        out = subprocess.run([lua, "-v"], capture_output=True, text=True, check=True)
        versions.append((out.stdout + out.stderr).split()[1][:3])
    assert versions == ["5.4", "5.1"]


def test_no_status_is_progressing() -> None:
    assert argo_health(run(None))[0] == "Progressing"
    assert argo_health(run(TrainingRunStatus()))[0] == "Progressing"


@pytest.mark.parametrize(
    ("phase", "conditions", "expected", "in_message"),
    [
        ("Pending", [cond("Accepted", "True", "Valid")], "Progressing", ""),
        (
            "Planning",
            [cond("Planned", "Unknown", "PlanningPodRunning", "reading config.json")],
            "Progressing",
            "config.json",
        ),
        ("Queued", [cond("Queued", "True", "Launched", "waiting for Kueue")], "Progressing", "Kueue"),
        ("Running", [cond("Running", "True", "Running", "2/2 pods")], "Progressing", "2/2 pods"),
        ("Succeeded", [cond("Succeeded", "True", "Succeeded", "training finished")], "Healthy", "finished"),
        ("Failed", [cond("Failed", "True", "Failed", "rank 1 exited 3")], "Degraded", "rank 1 exited 3"),
        ("Suspended", [cond("Running", "False", "Suspended", "spec.suspend")], "Suspended", "spec.suspend"),
    ],
)
def test_phases(phase: str, conditions: list[Condition], expected: str, in_message: str) -> None:
    status, message = argo_health(
        run(TrainingRunStatus(phase=phase, observed_generation=1, conditions=conditions))
    )  # type: ignore[arg-type]
    assert status == expected
    assert in_message in message


def test_every_phase_maps_to_an_argo_status() -> None:
    for phase in PHASES:
        status, _ = argo_health(run(TrainingRunStatus(phase=phase, observed_generation=1)))  # type: ignore[arg-type]
        assert status in ARGO_STATUSES - {"Unknown", "Missing"}, phase


def test_invalid_spec_is_degraded_with_the_reason() -> None:
    st = TrainingRunStatus(
        phase="Failed",
        observed_generation=1,
        conditions=[
            cond("Accepted", "False", "InvalidSpec", "hyperparameters.lora_r is not a parameter of sft"),
            cond("Stalled", "True", "InvalidSpec", "the spec is invalid: see the Accepted condition"),
        ],
    )
    status, message = argo_health(run(st))
    assert status == "Degraded"
    assert message == "InvalidSpec: hyperparameters.lora_r is not a parameter of sft"


def test_stalled_is_degraded_even_when_pending() -> None:
    st = TrainingRunStatus(
        phase="Pending",
        observed_generation=1,
        conditions=[
            cond("Accepted", "True", "Valid"),
            cond("Stalled", "True", "NoLauncher", "no launcher is served"),
        ],
    )
    assert argo_health(run(st)) == ("Degraded", "NoLauncher: no launcher is served")


def test_stale_status_waits_for_the_operator() -> None:
    st = TrainingRunStatus(
        phase="Succeeded", observed_generation=1, conditions=[cond("Succeeded", "True", "Succeeded")]
    )
    status, message = argo_health(run(st, generation=2))
    assert status == "Progressing" and "generation 2" in message


def test_dry_run_planned_is_healthy() -> None:
    st = TrainingRunStatus(
        phase="Pending",
        observed_generation=1,
        plan=PLAN,
        conditions=[
            cond("Accepted", "True", "Valid"),
            cond("Planned", "True", "Estimated", "2 GPUs fit 61Gi"),
            cond("Queued", "False", "DryRun", "spec.dryRun is set"),
        ],
    )
    status, message = argo_health(run(st, dry_run=True))
    assert status == "Healthy" and message.startswith("Dry run")
    # Without dryRun the same status is still on its way.
    assert argo_health(run(st, dry_run=False))[0] == "Progressing"


def test_running_shows_progress() -> None:
    st = TrainingRunStatus(
        phase="Running",
        observed_generation=1,
        conditions=[cond("Running", "True", "Running", "training is running")],
        progress=Progress(step=50, total_steps=200, percent=25),
    )
    assert argo_health(run(st)) == ("Progressing", "Running: training is running (25%)")


def test_messages_with_quotes_newlines_and_unicode_survive() -> None:
    text = 'rank 0: "CUDA out of memory"\nsee https://example.invalid/ü'
    st = TrainingRunStatus(
        phase="Failed", observed_generation=1, conditions=[cond("Failed", "True", "OOM", text)]
    )
    assert argo_health(run(st)) == ("Degraded", f"OOM: {text}")


def test_condition_types_the_script_reads_exist_in_the_models() -> None:
    script = HEALTH_LUA.read_text()
    for type_ in ("Accepted", "Stalled", "Planned", "Failed", "Succeeded", "Running", "Queued"):
        assert f'"{type_}"' in script
        assert type_ in CONDITION_TYPES
    for phase in PHASES:
        assert f'"{phase}"' in script


def test_script_avoids_lua_features_gopher_lua_lacks() -> None:
    """Argo CD runs gopher-lua (Lua 5.1): no goto/labels, no integer division or bitwise operators."""
    code = "\n".join(line.split("--", 1)[0] for line in HEALTH_LUA.read_text().splitlines())
    for token in ("goto ", "::", "//", "<<", ">>", "utf8.", "string.pack", "math.tointeger"):
        assert token not in code, token


def test_a_fixed_spec_is_not_degraded_by_the_previous_generations_verdict() -> None:
    """Generation first: the operator has not reconciled generation 2 yet, Accepted=False is generation 1's."""
    st = TrainingRunStatus(
        phase="Pending",
        observed_generation=1,
        conditions=[
            cond("Accepted", "False", "InvalidSpec", "hyperparameters.lora_r is not a parameter of sft")
        ],
    )
    status, message = argo_health(run(st, generation=2))
    assert status == "Progressing" and "generation 2" in message
    assert argo_health(run(st, generation=1))[0] == "Degraded"


def test_the_script_runs_with_only_argo_cds_libraries(tmp_path: Path) -> None:
    """The interpreter environment is Argo CD's: base, table, package; no string, math, os, io or string
    methods (a script using them fails here as it would in Argo CD)."""
    for snippet in (
        'string.format("%d", 1)',
        "math.floor(1.5)",
        "os.getenv('HOME')",
        'io.write("x")',
        '("x"):upper()',
    ):
        script = tmp_path / "probe.lua"
        script.write_text(f"local x = {snippet}\nreturn {{status = 'Healthy', message = ''}}\n")
        with pytest.raises(RuntimeError):
            argo_health({"metadata": {}}, script)
    ok = tmp_path / "ok.lua"
    ok.write_text(
        "local t = {}\ntable.insert(t, tostring(obj.a))\nreturn {status = 'Healthy', message = t[1]}\n"
    )
    assert argo_health({"a": 1}, ok) == ("Healthy", "1")
