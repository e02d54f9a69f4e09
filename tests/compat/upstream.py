"""The published upstream training_hub sdist, fetched at test time (never committed, never installed).

Upstream's package is also named ``training_hub``: its source is only read (``ast``) and its test files are
run against our package. The sdist is downloaded once with ``pip download`` into
``~/.cache/training-hub/upstream/`` (``TRAINING_HUB_UPSTREAM_CACHE`` overrides the directory).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
from functools import cache
from pathlib import Path

#: The upstream release this project is a drop-in for.
UPSTREAM_VERSION = "0.11.2"


def cache_dir() -> Path:
    """Where the sdist is downloaded and unpacked."""
    default = Path.home() / ".cache" / "training-hub" / "upstream"
    return Path(os.environ.get("TRAINING_HUB_UPSTREAM_CACHE", default))


@cache
def upstream_root() -> Path:
    """The unpacked sdist of training-hub 0.11.2 (downloaded on first use).

    Raises:
        RuntimeError: pip could not download it (no access to the package index).
    """
    base = cache_dir()
    root = base / f"training_hub-{UPSTREAM_VERSION}"
    if (root / "READY").is_file():
        return root
    base.mkdir(parents=True, exist_ok=True)
    archive = base / f"training_hub-{UPSTREAM_VERSION}.tar.gz"
    if not archive.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
        cmd += [f"training-hub=={UPSTREAM_VERSION}", "-d", str(base), "--quiet"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not archive.is_file():
            raise RuntimeError(f"could not download training-hub=={UPSTREAM_VERSION}: {done.stderr[-2000:]}")
    with tarfile.open(archive) as tar:
        tar.extractall(base, filter="data")
    (root / "READY").write_text("ok\n")
    return root


def upstream_source(relative: str) -> ast.Module:
    """The syntax tree of ``src/training_hub/<relative>`` of the sdist."""
    path = upstream_root() / "src" / "training_hub" / relative
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def upstream_exports() -> list[str]:
    """The names of upstream's ``training_hub.__all__``."""
    for node in upstream_source("__init__.py").body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("upstream __init__.py has no __all__")


def upstream_module(name: str) -> str:
    """The file (``algorithms/sft.py``) that upstream's ``__init__.py`` imports the public ``name`` from."""
    imports = [
        n for n in upstream_source("__init__.py").body if isinstance(n, ast.ImportFrom) and n.level == 1
    ]
    for node in imports:  # from .algorithms.sft import sft, ...
        if node.module and any(alias.name == name for alias in node.names):
            return node.module.replace(".", "/") + ".py"
    raise AssertionError(f"upstream's __init__.py does not import {name}")


def upstream_signature(function: str) -> dict[str, str | None]:
    """Keyword -> default (source text; ``None`` for required ones) of an upstream function or method
    (``Class.method``), read from the file upstream's ``__init__.py`` imports it from."""
    owner, _, name = function.rpartition(".")
    body = upstream_source(upstream_module(owner or name)).body
    if owner:  # a method: ``Class.method``
        body = next(n.body for n in body if isinstance(n, ast.ClassDef) and n.name == owner)
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            args = node.args
            positional = args.args
            defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
            defaults += list(args.defaults)
            out = {
                a.arg: (ast.unparse(d) if d is not None else None)
                for a, d in zip(positional, defaults, strict=True)
            }
            for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                out[a.arg] = ast.unparse(d) if d is not None else None
            return out
    raise AssertionError(f"upstream has no function {function}")
