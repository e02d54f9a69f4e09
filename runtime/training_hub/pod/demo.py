"""Demo locations built on the fly: ``tiny://<family>`` models and ``tiny://<format>`` datasets.

A demo run (``examples/tiny-cpu.yaml``) must work where nothing can be downloaded. Its model and data are
therefore built inside each pod, deterministically (same URI, same bytes on every node), with
:mod:`training_hub.tiny`:

* model: ``tiny://llama`` (or ``qwen2``, ``mistral``); query options ``seed``, ``hidden_size``,
  ``layers``, ``heads``, ``intermediate_size``, e.g. ``tiny://llama?hidden_size=32&layers=1``;
* data: ``tiny://messages`` (or ``document``, ``alpaca``); options ``samples`` (default 64) and ``seed``;
* for ``embedding_sft``: ``tiny://bert`` (a tiny BERT encoder with mean pooling, a sentence-transformers
  model; options ``seed``, ``hidden_size``, ``layers``, ``heads``, ``intermediate_size``) and
  ``tiny://labeled`` (``text``/``label`` rows of three topics);
* for ``dpo``: ``tiny://preferences`` (``prompt``/``chosen``/``rejected`` strings) or ``tiny://chatpreferences``
  (message lists), learnable preference pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from training_hub.errors import InvalidInputError
from training_hub.storage.uri import scheme

SCHEME = "tiny"
MODEL_FAMILIES = ("llama", "qwen2", "mistral", "bert")
DATA_FORMATS = ("messages", "document", "alpaca", "labeled", "preferences", "chatpreferences")
_MODEL_OPTIONS = {
    "seed": "seed",
    "hidden_size": "hidden_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "intermediate_size": "intermediate_size",
}


def is_demo_uri(value: str) -> bool:
    """Whether ``value`` is a ``tiny://`` location."""
    return scheme(value) == SCHEME


def _parse(
    uri: str, allowed_kinds: tuple[str, ...], allowed_options: tuple[str, ...]
) -> tuple[str, dict[str, int]]:
    parts = urlsplit(uri)
    kind = (parts.netloc or parts.path.lstrip("/")).lower()
    if parts.scheme != SCHEME or kind not in allowed_kinds:
        raise InvalidInputError(f"unknown demo location {uri!r}; use tiny://{{{','.join(allowed_kinds)}}}")
    options: dict[str, int] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key not in allowed_options:
            raise InvalidInputError(
                f"unknown option {key!r} in {uri!r}; allowed: {', '.join(allowed_options) or 'none'}"
            )
        try:
            options[key] = int(values[-1])
        except ValueError:
            raise InvalidInputError(f"option {key!r} in {uri!r} must be an integer") from None
        if options[key] < (0 if key == "seed" else 1):
            raise InvalidInputError(f"option {key!r} in {uri!r} is out of range")
    return kind, options


def validate_demo_model(uri: str) -> None:
    """Raise :class:`InvalidInputError` unless ``uri`` is a valid demo model location."""
    _parse(uri, MODEL_FAMILIES, tuple(_MODEL_OPTIONS))


def validate_demo_data(uri: str) -> None:
    """Raise :class:`InvalidInputError` unless ``uri`` is a valid demo data location."""
    _parse(uri, DATA_FORMATS, ("samples", "seed"))


def materialize_demo_model(uri: str, out_dir: Path) -> Path:
    """Build the tiny model (with its tokenizer) a ``tiny://`` URI names into ``out_dir``."""
    family, options = _parse(uri, MODEL_FAMILIES, tuple(_MODEL_OPTIONS))
    from training_hub.tiny import build_tiny_embedding_model, build_tiny_model

    kwargs: dict[str, Any] = {_MODEL_OPTIONS[k]: v for k, v in options.items()}
    if family == "bert":
        return build_tiny_embedding_model(out_dir, **kwargs)
    return build_tiny_model(out_dir, family, **kwargs)


def materialize_demo_data(uri: str, path: Path) -> Path:
    """Write the synthetic dataset a ``tiny://`` URI names to ``path``."""
    fmt, options = _parse(uri, DATA_FORMATS, ("samples", "seed"))
    from training_hub.tiny import write_labeled_dataset, write_synthetic_dataset

    if fmt == "labeled":
        return write_labeled_dataset(path, n=options.get("samples", 64), seed=options.get("seed", 0))
    if fmt in ("preferences", "chatpreferences"):
        from training_hub.tiny import write_preference_dataset

        kind = "chat" if fmt == "chatpreferences" else "standard"
        return write_preference_dataset(
            path, n=options.get("samples", 64), fmt=kind, seed=options.get("seed", 0)
        )
    return write_synthetic_dataset(path, n=options.get("samples", 64), fmt=fmt, seed=options.get("seed", 0))
