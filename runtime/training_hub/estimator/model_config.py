"""Load a model's ``config.json`` from a directory, a file, a dict, or (when allowed) the Hugging Face hub.

Only the config is ever read: no weights, no torch. Multimodal wrappers that nest the language model's
config under ``text_config`` are unwrapped when the nested config is a supported decoder family.
"""

from __future__ import annotations

import json
import math
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from training_hub.contracts import pod_env
from training_hub.errors import InvalidInputError
from training_hub.structured_files import read_structured

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
HF_ENDPOINT_DEFAULT = "https://huggingface.co"

#: Upper bounds on a config's sizes. The estimator's work (and memory) grows with the number of layers
#: and experts; no published decoder comes near these (Llama 3.1 405B: 126 layers, hidden 16384, vocab
#: 128256; DeepSeek-V3: 256 routed experts; Gemma 3: vocab 262144), so a config beyond them is an error,
#: answered at once rather than after minutes of work. Each key is checked under its usual names.
SIZE_BOUNDS: dict[str, int] = {
    "num_hidden_layers": 2048,
    "n_layer": 2048,
    "num_layers": 2048,
    "hidden_size": 1 << 20,
    "n_embd": 1 << 20,
    "d_model": 1 << 20,
    "intermediate_size": 1 << 22,
    "moe_intermediate_size": 1 << 22,
    "num_attention_heads": 1 << 16,
    "num_key_value_heads": 1 << 16,
    "head_dim": 1 << 16,
    "vocab_size": 1 << 24,
    "num_experts": 1 << 14,
    "num_local_experts": 1 << 14,
    "n_routed_experts": 1 << 14,
    "n_shared_experts": 1 << 14,
}


def check_size_bounds(config: dict[str, Any]) -> None:
    """Refuse a config whose sizes are beyond :data:`SIZE_BOUNDS` (or not numbers).

    Raises:
        InvalidInputError: Naming the first field out of bounds, its value and the bound.
    """
    for key, bound in SIZE_BOUNDS.items():
        value = config.get(key)
        if value is None or isinstance(value, list | dict):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"model config field {key!r} must be a non-negative integer, got {value!r}"
            )
        if not math.isfinite(value) or value > bound:
            raise InvalidInputError(
                f"model config field {key!r} is {value:g}, beyond the {bound} the estimator accepts (no "
                "published model comes near it): check the model's config.json"
            )


def _read_json(path: Path) -> dict[str, Any]:
    data = read_structured(path, "model config", "JSON")
    if not isinstance(data, dict):
        raise InvalidInputError(f"model config {path} must hold a JSON object")
    return data


def fetch_hub_config(model_id: str, revision: str = "main", timeout: float = 20.0) -> dict[str, Any]:
    """Download only ``config.json`` of a hub model (``HF_ENDPOINT`` and ``HF_TOKEN`` are honoured).

    Raises:
        InvalidInputError: If the config cannot be fetched or parsed.
    """
    endpoint = os.environ.get("HF_ENDPOINT", HF_ENDPOINT_DEFAULT).rstrip("/")
    url = f"{endpoint}/{model_id}/resolve/{revision}/config.json"
    request = urllib.request.Request(url)
    token = os.environ.get(pod_env.HF_TOKEN)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (fixed https endpoint)
            data = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot fetch config.json of {model_id!r} from {endpoint}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"config.json of {model_id!r} is not a JSON object")
    return data


def _unwrap(config: dict[str, Any]) -> dict[str, Any]:
    from training_hub.estimator.families import FAMILIES

    text = config.get("text_config")
    if (
        config.get("model_type") not in FAMILIES
        and isinstance(text, dict)
        and text.get("model_type") in FAMILIES
    ):
        return dict(text)
    return config


def load_model_config(source: Any, *, allow_download: bool = False) -> dict[str, Any]:
    """Return a model's config as a dict.

    Args:
        source: A config dict, a ``config.json`` path, a model directory holding ``config.json``, or a
            Hugging Face model id (``org/name``; fetched only with ``allow_download=True``).
        allow_download: Permit fetching ``config.json`` from the hub.

    Returns:
        The config dict (a copy), with ``model_type`` present.

    Raises:
        InvalidInputError: If the source cannot be read, is not a config, or needs a download that was
            not allowed.
    """
    if isinstance(source, dict):
        config = dict(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if path.is_dir():
            file = path / "config.json"
            if not file.is_file():
                raise InvalidInputError(f"model directory {path} has no config.json")
            config = _read_json(file)
        elif path.is_file():
            config = _read_json(path)
        elif isinstance(source, str) and _HF_ID.match(source):
            if not allow_download:
                raise InvalidInputError(
                    f"{source!r} is not a local path; it looks like a Hugging Face id: pass "
                    "allow_download=True (CLI: --allow-download) to fetch only its config.json"
                )
            config = fetch_hub_config(source)
        else:
            raise InvalidInputError(f"model path {str(source)!r} does not exist")
    else:
        raise InvalidInputError(
            f"model must be a config dict, a path or a hub id, not {type(source).__name__}"
        )
    if not isinstance(config.get("model_type"), str):
        raise InvalidInputError("model config has no 'model_type': is this a transformers config.json?")
    config = _unwrap(config)
    check_size_bounds(config)
    return config
