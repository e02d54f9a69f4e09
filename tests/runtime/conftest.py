"""Fixtures of the runtime tests: model configs for the estimator and its CLI, an environment without a launcher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.model_configs import QWEN2_7B_CONFIG, tiny_config


@pytest.fixture
def llama_config() -> dict[str, Any]:
    """A tiny Llama config dict."""
    return tiny_config("llama")


@pytest.fixture
def qwen7b_dir(tmp_path: Path) -> Path:
    """A directory holding only the config.json of a Qwen2-7B-sized model (7.6 B parameters)."""
    (tmp_path / "config.json").write_text(json.dumps(QWEN2_7B_CONFIG))
    return tmp_path


#: What torchrun, the Kubeflow launchers and the operator's pods set; their presence changes how the backends
#: launch (torchrun themselves, or run in place as a worker).
LAUNCHER_ENV = (
    "TORCHELASTIC_RUN_ID",
    "LOCAL_RANK",
    "PET_NPROC_PER_NODE",
    "PET_NNODES",
    "PET_NODE_RANK",
    "PET_MASTER_ADDR",
    "PET_RDZV_ENDPOINT",
    "MASTER_ADDR",
)


@pytest.fixture
def no_launcher_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process runs outside any launcher (none of ``LAUNCHER_ENV`` is set)."""
    for var in LAUNCHER_ENV:
        monkeypatch.delenv(var, raising=False)
