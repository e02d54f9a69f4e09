"""The tables of model layouts: every MoE family names a layout, and every layout is used."""

from __future__ import annotations

import pytest

from training_hub.errors import InvalidInputError
from training_hub.estimator.families import FAMILIES, MOE_LAYOUTS, config_value, required_dim

pytestmark = pytest.mark.unit


def test_every_moe_family_has_a_layout_and_every_layout_a_family() -> None:
    kinds = {family.moe for family in FAMILIES.values() if family.moe is not None}
    assert kinds == set(MOE_LAYOUTS)


def test_a_shared_expert_belongs_to_a_family_of_its_kind() -> None:
    for kind, layout in MOE_LAYOUTS.items():
        if layout.shared_model_type is not None:
            assert FAMILIES[layout.shared_model_type].moe == kind
            assert layout.shared_key is not None


def test_config_reads() -> None:
    cfg = {"model_type": "llama", "hidden_size": 64, "head_dim": None, "flag": True}
    assert config_value(cfg, "head_dim", 16) == 16
    assert required_dim(cfg, "hidden_size") == 64
    with pytest.raises(InvalidInputError, match="has no 'vocab_size'"):
        required_dim(cfg, "vocab_size")
    with pytest.raises(InvalidInputError, match="non-negative integer"):
        required_dim(cfg, "flag")
