"""One stdlib-only module of an upstream training engine's published wheel, fetched at test time (never
committed, never installed): the real code a test runs our adapters against.

The wheel is downloaded once with ``pip download --no-deps`` into the upstream cache of
:func:`tests.compat.upstream.cache_dir`; the one file is loaded under a private module name, so nothing
else of the engine (torch, CUDA kernels) is imported.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from functools import cache
from types import ModuleType

from tests.compat.upstream import cache_dir

#: Engine -> (PyPI requirement, the module's path inside the wheel). The versions the backends are written for.
CALLBACK_MODULES: dict[str, tuple[str, str]] = {
    "instructlab-training": ("instructlab-training==0.16.2", "instructlab/training/callbacks.py"),
    "mini-trainer": ("rhai-innovation-mini-trainer==0.9.0", "mini_trainer/callbacks.py"),
}


@cache
def engine_module(engine: str) -> ModuleType:
    """The callbacks module of ``engine``'s wheel (see :data:`CALLBACK_MODULES`).

    Raises:
        RuntimeError: pip could not download the wheel (no access to the package index).
    """
    requirement, member = CALLBACK_MODULES[engine]
    base = cache_dir() / "engines" / requirement.replace("==", "-")
    target = base / member
    if not target.is_file():
        base.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", requirement]
        done = subprocess.run(
            [*cmd, "-d", str(base), "--quiet"], capture_output=True, text=True, timeout=300, check=False
        )
        wheels = sorted(base.glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(f"could not download {requirement}: {done.stderr[-2000:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extract(member, base)
    name = f"_upstream_{engine.replace('-', '_')}_callbacks"
    spec = importlib.util.spec_from_file_location(name, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
