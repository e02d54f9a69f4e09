"""Loading a model config from a dict, a directory, a file, or a hub id (only when allowed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training_hub.errors import InvalidInputError
from training_hub.estimator import load_model_config

pytestmark = pytest.mark.unit


def test_dict_directory_and_file_give_the_same_config(llama_config: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(llama_config))
    assert load_model_config(llama_config) == llama_config
    assert load_model_config(tmp_path) == llama_config
    assert load_model_config(str(tmp_path / "config.json")) == llama_config


def test_dict_is_copied(llama_config: dict[str, Any]) -> None:
    loaded = load_model_config(llama_config)
    loaded["hidden_size"] = 1
    assert llama_config["hidden_size"] == 64


def test_hub_id_needs_permission() -> None:
    with pytest.raises(InvalidInputError, match="allow_download=True"):
        load_model_config("Qwen/Qwen2.5-7B-Instruct")


def test_missing_path_and_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_model_config(str(tmp_path / "nope" / "deeper"))
    with pytest.raises(InvalidInputError, match="has no config.json"):
        load_model_config(tmp_path)


def test_bad_json_and_non_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_model_config(bad)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="JSON object"):
        load_model_config(listing)
    with pytest.raises(InvalidInputError, match="model_type"):
        load_model_config({"hidden_size": 8})
    with pytest.raises(InvalidInputError, match="not int"):
        load_model_config(3)


def test_multimodal_wrapper_is_unwrapped(llama_config: dict[str, Any]) -> None:
    wrapped = {"model_type": "llava", "text_config": llama_config, "vision_config": {}}
    assert load_model_config(wrapped) == llama_config
