"""``LogitsProbe`` (engine/callbacks.py): it records logits of a plain model, and skips, with a warning, a model
whose parameters are FSDP2-sharded (its ``on_checkpoint`` runs on rank 0 only, where a sharded forward would
wait forever for the other ranks)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from training_hub.engine.callbacks import LogitsProbe, set_current_model

pytestmark = pytest.mark.unit


class Tiny(torch.nn.Module):
    """A language-model-shaped module: ``model(input_ids=...).logits``."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(40, 8)
        self.head = torch.nn.Linear(8, 40)

    def forward(self, input_ids: torch.Tensor, use_cache: bool = False) -> torch.nn.Module:
        out = torch.nn.Module()
        out.logits = self.head(self.emb(input_ids))
        return out


def test_a_plain_model_gets_its_logits_recorded(tmp_path: Path) -> None:
    set_current_model(Tiny())
    try:
        LogitsProbe(str(tmp_path)).on_checkpoint(str(tmp_path / "samples_8"), "hf")
    finally:
        set_current_model(None)
    saved = torch.load(tmp_path / "hf-samples_8.pt")
    assert saved["logits"].shape == (1, 32, 40)


def test_a_sharded_model_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = Tiny()
        fully_shard(model)
        set_current_model(model)
        with caplog.at_level(logging.WARNING, logger="training_hub.engine"):
            LogitsProbe(str(tmp_path / "probe")).on_checkpoint(str(tmp_path / "samples_8"), "hf")
    finally:
        set_current_model(None)
        dist.destroy_process_group()
    assert "the model is sharded (FSDP)" in caplog.text
    assert not (tmp_path / "probe").exists()
