"""The engine's hook points: files named by TRAINING_HUB_ENGINE_HOOKS register hooks; nothing runs unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_hub.engine import hooks

pytestmark = pytest.mark.unit


def test_hooks_load_from_the_named_file_and_fire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = tmp_path / "seen.txt"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "from training_hub.engine.hooks import register\n"
        f"register('step_done', lambda step, rank: open({str(seen)!r}, 'a').write(f'{{step}}:{{rank}}\\n'))\n"
    )
    monkeypatch.setenv(hooks.ENV_HOOKS, str(plugin))
    hooks.fire("step_done", step=3, rank=1)
    hooks.fire("step_trained", step=3, rank=1, micro_batches=[[0]])  # nothing registered there
    assert seen.read_text() == "3:1\n"
    monkeypatch.setenv(hooks.ENV_HOOKS, "")
    hooks.fire("step_done", step=4, rank=0)  # unset: the hooks are dropped
    assert seen.read_text() == "3:1\n"


def test_an_unknown_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine hook point 'after_everything'"):
        hooks.register("after_everything", print)
