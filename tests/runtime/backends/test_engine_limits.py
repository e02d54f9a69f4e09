"""The limits instructlab-training and mini-trainer share (``instructlab_pipeline_limits``), as each backend's
translation reports them: a value the user set is an error naming the engine, a default is a note."""

from __future__ import annotations

from types import ModuleType

import pytest

from training_hub.backends import instructlab, mini_trainer
from training_hub.errors import InvalidInputError

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("no_launcher_env")]

BASE = {"model_path": "/models/m", "data_path": "/data/d.jsonl", "ckpt_output_dir": "/out"}


@pytest.mark.parametrize(
    ("backend", "engine", "extra"),
    [(instructlab, "instructlab-training", {}), (mini_trainer, "mini-trainer", {"unfreeze_rank_ratio": 0.5})],
)
def test_shared_limits_are_errors_naming_the_engine(
    backend: ModuleType, engine: str, extra: dict[str, float]
) -> None:
    params = {**BASE, **extra, "unmask_roles": ["assistant"], "data_format": "document", "max_grad_norm": 0.5}
    with pytest.raises(InvalidInputError) as raised:
        backend.translate(params)
    message = str(raised.value)
    assert f"the {engine} backend cannot honour" in message
    assert f"unmask_roles=['assistant']: {engine} only supports the per-sample `unmask` flag" in message
    assert f"max_grad_norm=0.5: {engine} always clips gradients at norm 1.0" in message
    assert f"data_format='document' needs is_pretraining=True with {engine}" in message
    notes = backend.translate({**BASE, **extra})["notes"]
    assert not any("unmask_roles" in note for note in notes)  # the default (None) is honoured
