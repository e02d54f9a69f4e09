"""Shared fixtures: a tiny tokenizer, a tiny Llama and learnable synthetic datasets, built once and cached.

The artefacts are built with `training_hub.tiny` (no downloads) into pytest's cache directory under a key
that hashes the builder's source and library versions, so they are rebuilt only when the builder changes.
Concurrent sessions are safe: a build goes to a temporary directory that is renamed into place.

Fixtures (session-scoped, paths): `tiny_tokenizer_dir`, `tiny_model_dir`, `messages_data`,
`document_data`, `alpaca_data`, `tiny_params` (engine parameters of the tiny model on the chat data), and for DPO `preference_data`, `preference_chat_data` (learnable preference
pairs in both formats) and `other_model_dir` (a second tiny model to act as a reference that differs from
the policy).

Control-plane, S3 and TrainingRun fixtures live in `tests/controlplane/` and `tests/support/`; a directory's
`conftest.py` imports the ones its tests use (see `docs/testing.md`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import os
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import tiny_engine_params

# Multi-process CPU tests on 2 cores: one OpenMP thread per process (inherited by subprocesses).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The engine's test-only fault injection (tests/support/engine_faults.py), loaded by every engine process the tests
# start; it acts only where a test sets one of its TRAINING_HUB_FAULT_* / TRAINING_HUB_SAMPLE_LOG variables.
os.environ.setdefault(
    "TRAINING_HUB_ENGINE_HOOKS", str(Path(__file__).parent / "support" / "engine_faults.py")
)

#: Samples in each synthetic dataset fixture.
DATASET_SIZE = 256


def _builder_key() -> str:
    from training_hub import tiny

    parts = [inspect.getsource(tiny)]
    for dist in ("transformers", "tokenizers", "torch"):
        try:
            parts.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _build(root: Path) -> None:
    from training_hub import tiny

    tok = tiny.build_tokenizer(root / "tokenizer")
    tiny.build_tiny_model(root / "model", family="llama", seed=0, tokenizer_dir=tok)
    for fmt in ("messages", "document", "alpaca"):
        tiny.write_synthetic_dataset(root / f"{fmt}.jsonl", n=DATASET_SIZE, fmt=fmt, seed=0)


@pytest.fixture(scope="session")
def tiny_artifacts(request: pytest.FixtureRequest) -> Path:
    """Directory holding `tokenizer/`, `model/` and `<format>.jsonl`, built once per builder version."""
    cache = getattr(request.config, "cache", None)  # None with `-p no:cacheprovider`
    base = (
        Path(cache.mkdir("tiny")) if cache is not None else Path.home() / ".cache" / "training-hub" / "tiny"
    )
    base.mkdir(parents=True, exist_ok=True)
    final = base / _builder_key()
    if (final / "READY").is_file():
        return final
    tmp = base / f".build-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _build(tmp)
    (tmp / "READY").write_text("ok\n")
    try:
        os.rename(tmp, final)
    except OSError:  # another session won the race, or a stale incomplete dir exists
        if not (final / "READY").is_file():
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _artifact(name: str, path: str, doc: str) -> Any:
    """A session fixture ``name``: ``path`` in the tiny artefacts."""

    def fixture(tiny_artifacts: Path) -> Path:
        return tiny_artifacts / path

    fixture.__doc__ = doc
    return pytest.fixture(scope="session", name=name)(fixture)


tiny_tokenizer_dir = _artifact(
    "tiny_tokenizer_dir", "tokenizer", "A locally trained BPE tokenizer (bos/eos/pad, chat template)."
)
tiny_model_dir = _artifact(
    "tiny_model_dir",
    "model",
    "A random-init tiny Llama (hidden 64, 2 layers) with its tokenizer in the same directory.",
)
messages_data = _artifact(
    "messages_data", "messages.jsonl", "Learnable synthetic chat data (`messages` format, 256 samples)."
)
document_data = _artifact(
    "document_data",
    "document.jsonl",
    "Learnable synthetic pretraining data (`document` format, 256 samples).",
)
alpaca_data = _artifact(
    "alpaca_data", "alpaca.jsonl", "Learnable synthetic instruction data (`alpaca` format, 256 samples)."
)


@pytest.fixture(scope="session")
def tiny_params(tiny_model_dir: Path, messages_data: Path) -> Callable[..., dict[str, Any]]:
    """``tiny_params(out, **overrides)``: engine parameters that train the tiny model on the chat data into
    ``out`` (:func:`tests.support.tiny_training.tiny_engine_params`)."""
    return partial(tiny_engine_params, tiny_model_dir, messages_data)


@pytest.fixture(scope="session")
def preference_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 learnable `prompt`/`chosen`/`rejected` string pairs."""
    from training_hub.tiny import write_preference_dataset

    return write_preference_dataset(tmp_path_factory.mktemp("pref") / "pairs.jsonl", n=64, fmt="standard")


@pytest.fixture(scope="session")
def preference_chat_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 learnable chat-form pairs (message lists)."""
    from training_hub.tiny import write_preference_dataset

    return write_preference_dataset(tmp_path_factory.mktemp("pref") / "chat.jsonl", n=64, fmt="chat")


@pytest.fixture(scope="session")
def other_model_dir(tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with the same tokenizer and other random weights (seed 1)."""
    from training_hub.tiny import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("other") / "model", family="llama", seed=1, tokenizer_dir=tiny_tokenizer_dir
    )
