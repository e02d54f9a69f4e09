"""`benchmarks/run_all.py`: selection and the results section of docs/benchmarks.md."""

from __future__ import annotations

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
