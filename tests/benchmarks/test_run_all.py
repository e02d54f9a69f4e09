"""`benchmarks/run_all.py`: selection and the results section of docs/benchmarks.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import benchmarks.run_all as run_all

pytestmark = pytest.mark.unit


def test_unknown_benchmark_name_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_all.main(["--only", "nope"])
    assert exc.value.code == 2
    assert "unknown benchmark(s) ['nope']" in capsys.readouterr().err


def test_doc_section_is_replaced_between_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nintro\n\n{run_all.BEGIN}\nold table\n{run_all.END}\n\nafter\n")
    monkeypatch.setattr(run_all, "DOC", doc)
    results = [
        {"name": "data_pipeline", "returncode": 0, "seconds": 1.0, "output": "| a |\n|---|\n| 1 |"},
        {"name": "operator_throughput", "returncode": 1, "seconds": 2.0, "output": "boom"},
    ]
    run_all.update_doc(run_all.render_doc_section(results, quick=True))
    text = doc.read_text()
    assert "old table" not in text and text.startswith("# Benchmarks\n\nintro") and text.endswith("after\n")
    assert "### Data pipeline" in text and "| 1 |" in text and "FAILED (exit 1)" in text
    assert "cores" in text and "(--quick)" in text
    assert text.count(run_all.BEGIN) == 1


def _summary(out: Path, names: list[str], quick: bool = False) -> None:
    (out / "summary.json").write_text(
        json.dumps({"quick": quick, "benchmarks": [{"name": n} for n in names]})
    )


def test_a_full_run_keeps_the_last_full_runs_results_to_compare_with(tmp_path: Path) -> None:
    names = [name for name, _, _ in run_all.BENCHMARKS]
    (tmp_path / "data_pipeline.json").write_text('{"x": 1}')
    assert run_all.keep_previous(tmp_path) is None  # no summary: no full run before
    _summary(tmp_path, names[:2])
    assert run_all.keep_previous(tmp_path) is None  # an --only run is not a full run
    _summary(tmp_path, names, quick=True)
    assert run_all.keep_previous(tmp_path) is None  # nor is a --quick one
    _summary(tmp_path, names)
    previous = run_all.keep_previous(tmp_path)
    assert previous == tmp_path / "previous"
    assert json.loads((previous / "data_pipeline.json").read_text()) == {"x": 1}
    assert (previous / "summary.json").is_file()
    # The previous run lacks files a comparison needs: no comparison, no error.
    assert run_all.reproduction(previous, tmp_path) is None
    assert run_all.reproduction(None, tmp_path) is None


def test_the_comparison_goes_into_the_results_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{run_all.BEGIN}\n{run_all.END}\n")
    monkeypatch.setattr(run_all, "DOC", doc)
    results = [{"name": "startup", "returncode": 0, "seconds": 1.0, "output": "| a |"}]
    run_all.update_doc(run_all.render_doc_section(results, quick=False, compared="| the comparison |"))
    text = doc.read_text()
    assert "### This run against the previous full run" in text and "| the comparison |" in text
    run_all.update_doc(run_all.render_doc_section(results, quick=False))
    assert "previous full run" not in doc.read_text()


def test_only_the_last_runs_own_files_are_kept(tmp_path: Path) -> None:
    """Other JSON files kept beside the results (older studies) are not taken for the last run's."""
    _summary(tmp_path, [name for name, _, _ in run_all.BENCHMARKS])
    (tmp_path / "startup.json").write_text("{}")
    (tmp_path / "operator_throughput_2000_memory_pairs.json").write_text("{}")
    previous = run_all.keep_previous(tmp_path)
    assert previous is not None
    assert sorted(p.name for p in previous.iterdir()) == ["startup.json", "summary.json"]
