"""Step output: plain lines without a tty, a bar on one (``observability.console``)."""

from __future__ import annotations

import io

import pytest

from tests.support.metrics import metrics_row
from training_hub.observability.console import StepPrinter, bar_line, step_line

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------------------------------- console
class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_without_a_tty_and_a_bar_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINING_HUB_PROGRESS_BAR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    plain = io.StringIO()
    printer = StepPrinter(plain)
    for s in (1, 2, 3):
        printer.step(metrics_row(s, total=3))
    lines = plain.getvalue().splitlines()
    assert lines == [step_line(metrics_row(s, total=3)) for s in (1, 2, 3)]
    assert lines[0].startswith("[training_hub] step 1/3 epoch 0 loss 2.0000")
    assert "\r" not in plain.getvalue()

    tty = FakeTty()
    bar = StepPrinter(tty)
    for s in (1, 2, 3):
        bar.step(metrics_row(s, total=3))
    out = tty.getvalue()
    assert out.count("\r") == 3 and out.endswith("\n") and out.count("\n") == 1
    assert "100.0% 3/3" in out and "█" in out
    assert "[training_hub] step" not in out


def test_log_every_thins_plain_lines() -> None:
    out = io.StringIO()
    printer = StepPrinter(out, bar=False, every=10)
    for s in range(1, 26):
        printer.step(metrics_row(s, total=25))
    steps = [int(line.split()[2].split("/")[0]) for line in out.getvalue().splitlines()]
    assert steps == [1, 10, 20, 25]


def test_bar_line_shows_eta() -> None:
    text = bar_line(metrics_row(50, total=100), eta_seconds=125)
    assert " 50.0% 50/100" in text and "eta 2m05s" in text
