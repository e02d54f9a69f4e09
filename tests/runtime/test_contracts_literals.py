"""Each contract has one definition: no stray copies of its literals in ``runtime/`` or ``operator/``.

Four kinds of literal are looked for in the Python sources (string constants, docstrings left out; comments
are not code):

* API names: the group ``traininghub.io`` anywhere in a string; ``TrainingRun``, ``trainingruns`` and the
  ``<group>/<version>`` of every kind (``batch/v1``, ``kubeflow.org/v1``...) as whole strings (home:
  :mod:`training_hub.contracts.kinds`);
* the pod environment: every name :mod:`training_hub.contracts.pod_env` defines, as a whole string;
* exit codes: 2, 3, 4 and 143 compared with, assigned to or exited with as a code (home:
  :mod:`training_hub.pod.exit_codes`). 0 and 1 are everyone's success and failure and are not looked for;
* the names of run files others read (:mod:`training_hub.contracts.run_files`), as whole strings.

A literal that must stay where it is goes in :data:`ALLOWED` with its reason. :data:`PENDING_PIPELINE`
lists the literals in files another engineer was restructuring when the contracts got their homes; they
move to the contract modules after that merge, and the list then shrinks to nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from training_hub.contracts import kinds, pod_env, run_files
from training_hub.pod import exit_codes

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("runtime", "operator")
#: Modules whose functions return exit codes.
COMMANDS = ("runtime/training_hub/cli/",)

#: Home modules: the one place each literal is defined.
HOMES: dict[str, str] = {
    "api": "runtime/training_hub/contracts/kinds.py",
    "env": "runtime/training_hub/contracts/pod_env.py",
    "exit": "runtime/training_hub/pod/exit_codes.py",
    "file": "runtime/training_hub/contracts/run_files.py",
}

#: (file, literal) -> why it stays.
ALLOWED: dict[tuple[str, str], str] = {
    (
        "runtime/training_hub/local/trainjob.py",
        "trainer.kubeflow.org/v1alpha1",
    ): "the stand-in's copy of Kubeflow Trainer v2.3.0's torch-distributed ClusterTrainingRuntime manifest, "
    "kept field for field as upstream ships it",
}

#: Literals in files the pipeline engineer was splitting (reconcile, progress, runner, handlers, diagnosis,
#: waiting, local/runner): replaced by imports from the contract modules after the merge.
PENDING_PIPELINE: dict[tuple[str, str], str] = {}

_EXIT_CODES = frozenset({exit_codes.USAGE, exit_codes.INVALID_INPUT, exit_codes.INFRASTRUCTURE, 143})
#: ``<group>/<version>`` of every kind from an API group (``batch/v1``, ``kubeflow.org/v1``...).
_GROUP_VERSIONS = frozenset(
    k.api_version for k in vars(kinds).values() if isinstance(k, kinds.ResourceKind) and k.group
)
_CODE_NAMES = ("exit_code", "returncode", "exitcode", "code")
_FILE_NAMES = frozenset(
    value for name, value in vars(run_files).items() if name.isupper() and isinstance(value, str)
)
_ENV_NAMES = frozenset(
    value for name, value in vars(pod_env).items() if name.isupper() and isinstance(value, str)
)


def _docstrings(tree: ast.AST) -> set[int]:
    """``id()`` of the docstring constants of a module, its classes and functions."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _names_a_code(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.lower().endswith(_CODE_NAMES)


def _ints(node: ast.AST) -> list[int]:
    """The int literals of a constant or a tuple/set/list of constants (``-15`` included)."""
    items = node.elts if isinstance(node, ast.Tuple | ast.Set | ast.List) else [node]
    return [i.value for i in items if isinstance(i, ast.Constant) and type(i.value) is int]


def stray_literals(source: str, command: bool = False) -> Iterator[tuple[str, str]]:
    """``(contract, literal)`` for every contract literal in a Python source.

    Args:
        source: The module's text.
        command: Whether the module is a command (``cli/``): what its functions return is an exit code.
    """
    tree = ast.parse(source)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
            if kinds.GROUP in text:
                yield "api", kinds.GROUP
            if text in (kinds.KIND, kinds.PLURAL) or text in _GROUP_VERSIONS:
                yield "api", text
            if text in _ENV_NAMES:
                yield "env", text
            if text in _FILE_NAMES:
                yield "file", text
        elif isinstance(node, ast.Compare) and any(_names_a_code(n) for n in (node.left, *node.comparators)):
            for side in (node.left, *node.comparators):
                for value in _ints(side):
                    if value in _EXIT_CODES:
                        yield "exit", f"exit code {value}"
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_names_a_code(t) for t in targets):
                for value in _ints(node.value):
                    if value in _EXIT_CODES:
                        yield "exit", f"exit code {value}"
        elif isinstance(node, ast.Return) and command and node.value is not None:
            for value in _ints(node.value):
                if value in _EXIT_CODES:
                    yield "exit", f"exit code {value}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in ("exit", "SystemExit", "_exit"):
                for value in _ints(node.args[0]):
                    if value in _EXIT_CODES:
                        yield "exit", f"exit code {value}"


def _found() -> dict[tuple[str, str], str]:
    """``(file, literal) -> contract`` over the sources, home modules left out."""
    homes = set(HOMES.values())
    out: dict[tuple[str, str], str] = {}
    for top in SOURCES:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in homes:
                continue
            command = rel.startswith(COMMANDS)
            for contract, literal in stray_literals(path.read_text(encoding="utf-8"), command):
                out[(rel, literal)] = contract
    return out


def test_scanner_finds_each_kind_of_literal() -> None:
    source = '''
"""Docstring naming traininghub.io and TRAINING_HUB_RUN is fine."""
GROUP = "traininghub.io"
x = {"name": "PET_NNODES"}
metrics = out / "training_metrics.jsonl"
label = f"traininghub.io/{x}"  # an f-string part
if exit_code in (3, 4):
    pass
if proc.returncode == 143:
    raise SystemExit(2)
code = 4
ok = exit_code == 0
def main():
    return 3
'''
    found = list(stray_literals(source))
    assert ("exit", "exit code 3") in list(stray_literals("def main():\n    return 3\n", command=True))
    assert not list(stray_literals("def size():\n    return 3\n"))
    assert found.count(("api", "traininghub.io")) == 2
    assert ("env", "PET_NNODES") in found
    assert ("file", "training_metrics.jsonl") in found
    assert {lit for c, lit in found if c == "exit"} == {
        "exit code 2",
        "exit code 3",
        "exit code 4",
        "exit code 143",
    }
    assert ("exit", "exit code 0") not in found
    assert ("env", "TRAINING_HUB_RUN") not in found


def test_home_modules_define_what_is_looked_for() -> None:
    assert f"{kinds.GROUP}/{kinds.VERSION}" == kinds.API_VERSION
    assert {"TRAINING_HUB_RUN", "PET_NNODES", "MASTER_ADDR", "RANK", "WORLD_SIZE"} <= _ENV_NAMES
    assert exit_codes.TERMINATED == 143
    home_hits = {c for c, _ in stray_literals((REPO / HOMES["env"]).read_text(encoding="utf-8"))}
    assert home_hits == {"env"}  # the scanner would see them: the home is left out on purpose


def test_no_stray_contract_literals() -> None:
    found = _found()
    stray = {
        key: contract for key, contract in found.items() if key not in ALLOWED and key not in PENDING_PIPELINE
    }
    assert not stray, (
        "literals of a contract outside its home module; import them from "
        + ", ".join(f"{c}: {h}" for c, h in HOMES.items())
        + ":\n"
        + "\n".join(f"  {f}: {lit!r} ({c})" for (f, lit), c in sorted(stray.items()))
    )


def test_allow_list_entries_have_reasons() -> None:
    for entries in (ALLOWED, PENDING_PIPELINE):
        for (file, literal), reason in entries.items():
            assert (REPO / file).is_file(), file
            assert literal and reason.strip(), (file, literal)
