"""README's library script (written as for upstream training_hub) runs unchanged on the tiny model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _library_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The library") :]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]


@pytest.mark.integration
def test_readme_library_script_runs_unchanged(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "my-model").symlink_to(tiny_model_dir)
    lines = messages_data.read_text().splitlines(keepends=True)[:32]
    (tmp_path / "chat.jsonl").write_text("".join(lines))
    script = tmp_path / "script.py"
    script.write_text(_library_script())
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'runtime'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert re.search(r"step 1: loss \d+\.\d{3} lr ", done.stdout)  # the callback fired
    assert (tmp_path / "out-sft" / "hf_format" / "final").is_dir()
    assert (tmp_path / "out-osft" / "hf_format" / "final").is_dir()
    assert (tmp_path / "out-sft" / "loss_plot.png").is_file()
