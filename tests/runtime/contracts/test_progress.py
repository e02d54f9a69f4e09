"""``training_hub.contracts.progress``: the operator's CRD and the training pod's tracker share one model."""

from __future__ import annotations

import pytest

from training_hub.contracts.progress import Progress
from training_hub.observability.tracker import ProgressTracker
from training_hub_operator.api.status import TrainingRunStatus
from training_hub_operator.crdgen import status_schema

pytestmark = pytest.mark.unit

T0 = 1_780_000_000.0


def test_the_status_nests_the_contract_model() -> None:
    assert TrainingRunStatus.model_fields["progress"].annotation == Progress | None
    progress_schema = status_schema()["properties"]["progress"]
    assert set(progress_schema["properties"]) == {f.alias or n for n, f in Progress.model_fields.items()}


def test_what_the_tracker_reports_is_the_model_s_wire_form() -> None:
    tracker = ProgressTracker(env={})
    rows = [
        {
            "step": s,
            "total_steps": 10,
            "loss": 2.0 / s,
            "elapsed": s * 0.5,
            "samples_seen": 4 * s,
            "eval_loss": 1.5,
        }
        for s in range(1, 6)
    ]
    out = {}
    for i, row in enumerate(rows):
        out = tracker.on_step({**row, "rewards/chosen": 0.25}, now=T0 + i)
    tracker.on_checkpoint("/mnt/pvc/claim/run/hf_format/samples_20", "hf", now=T0 + 5)
    final = tracker.on_train_end({"steps": 10, "final_loss": 0.1}, now=T0 + 9)
    for wire in (out, final):
        assert Progress.model_validate(wire).wire() == wire  # camelCase keys, nothing the CRD lacks
    assert out["rewards"] == {"chosen": 0.25} and out["evalLoss"] == 1.5
    assert final["lastCheckpoint"] == "pvc://claim/run/hf_format/samples_20"
    assert final["percent"] == 100 and final["loss"] == 0.1
    assert tracker.progress == final
