"""The tests mirror the source tree: each test file under ``tests/runtime/`` and ``tests/operator/`` names the
module (or package) it tests, at the mirrored path (see ``docs/testing.md``).

``tests/runtime/<pkg>/test_<mod>.py`` or ``test_<mod>_<aspect>.py`` tests ``runtime/training_hub/<pkg>/<mod>.py``
(``<mod>`` may also be a subpackage of ``<pkg>``, or ``<pkg>`` itself); ``tests/operator/...`` likewise for
``operator/training_hub_operator/``. Shared helpers live in ``tests/support/``, not next to the tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
#: Test folder -> the source package it mirrors.
MIRRORS = {
    TESTS / "runtime": REPO / "runtime" / "training_hub",
    TESTS / "operator": REPO / "operator" / "training_hub_operator",
}
#: Test files that name no module, each with the reason (keep this short).
ALLOWED: dict[str, str] = {}


def _names(package: Path) -> set[str]:
    """What a test file next to ``package``'s mirror may be named after: its modules, its subpackages and
    the package itself."""
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    subpackages = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    return modules | subpackages | {package.name}


def _problem(test: Path, tests_root: Path, source_root: Path) -> str | None:
    """Why ``test`` does not mirror a module, or None when it does."""
    package = source_root / test.parent.relative_to(tests_root)
    if not (package / "__init__.py").is_file():
        return f"{package.relative_to(REPO)} is not a package"
    stem = test.stem.removeprefix("test_")
    names = _names(package)
    if any(stem == name or stem.startswith(name + "_") for name in names):
        return None
    return f"names none of {', '.join(sorted(names))} (in {package.relative_to(REPO)})"


def _files(tests_root: Path) -> list[Path]:
    return sorted(p for p in tests_root.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_test_names_a_module_at_the_mirrored_path() -> None:
    problems = []
    for tests_root, source_root in MIRRORS.items():
        for test in _files(tests_root):
            if test.name == "conftest.py" or str(test.relative_to(REPO)) in ALLOWED:
                continue
            if not test.name.startswith("test_"):
                problems.append(f"{test.relative_to(REPO)}: helpers belong in tests/support/")
                continue
            problem = _problem(test, tests_root, source_root)
            if problem:
                problems.append(f"{test.relative_to(REPO)}: {problem}")
    assert not problems, "test files that do not mirror the source tree:\n" + "\n".join(problems)


def test_the_allow_list_names_existing_files() -> None:
    assert [path for path in ALLOWED if not (REPO / path).is_file()] == []


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ("tests/runtime/engine/test_config.py", None),
        ("tests/runtime/engine/test_trainer_torchrun.py", None),
        ("tests/runtime/test_backends_translation.py", None),
        ("tests/runtime/estimator/test_estimator_import.py", None),
        ("tests/runtime/engine/test_nothing_here.py", "names none of"),
        ("tests/runtime/engine/test_configs.py", "names none of"),
        ("tests/runtime/nopackage/test_x.py", "is not a package"),
    ],
)
def test_the_rule_accepts_mirrors_and_refuses_the_rest(test: str, expected: str | None) -> None:
    problem = _problem(REPO / test, TESTS / "runtime", REPO / "runtime" / "training_hub")
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem
