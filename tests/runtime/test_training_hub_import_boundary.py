"""The library does not depend on the operator at import time (issue 16: layers point one way).

``training_hub`` reaches the operator package only lazily, inside the functions that need it (local mode's
rendering, the CLI); importing any of its modules must leave ``training_hub_operator`` unimported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"

_PROBE = """
import importlib, json, pkgutil, sys
import training_hub
# ``__main__`` modules are entry points: importing one runs it (they are run, not imported, by design).
names = sorted(
    m.name
    for m in pkgutil.walk_packages(training_hub.__path__, "training_hub.")
    if not m.name.endswith(".__main__")
)
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional upstream package (instructlab, mini_trainer...)
        failed[name] = f"missing:{exc.name}"
    except Exception as exc:  # reported, so that a module that cannot import does not pass silently
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({
    "modules": names,
    "failed": failed,
    "operator": sorted(m for m in sys.modules if m.split(".")[0] == "training_hub_operator"),
}))
"""


def test_importing_every_library_module_leaves_the_operator_unimported():
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(RUNTIME)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report["modules"]) > 50  # the walk found the package, not an empty path
    # Only adapters of optional upstream packages that are not installed here may fail to import.
    broken = {
        name: why
        for name, why in report["failed"].items()
        if not why.startswith("missing:") or why.partition(":")[2].split(".")[0].startswith("training_hub")
    }
    assert broken == {}
    assert report["operator"] == []
