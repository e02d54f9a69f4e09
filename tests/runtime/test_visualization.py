"""plot_loss: metrics discovery, step x axis, EMA, and the curves really drawn in the PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.tiny_training import read_metrics
from training_hub import plot_loss
from training_hub.cli.main import main as cli
from training_hub.errors import InvalidInputError
from training_hub.visualization import exponential_moving_average, find_metrics_file, read_loss_curve

pytestmark = pytest.mark.unit


def write_engine_metrics(run: Path, losses: list[float], step_stride: int = 1) -> None:
    """Metrics as the engine writes them (training_metrics.jsonl)."""
    run.mkdir(parents=True, exist_ok=True)
    with (run / "training_metrics.jsonl").open("w") as f:
        for i, loss in enumerate(losses):
            step = (i + 1) * step_stride
            entry = {
                "step": step,
                "total_steps": len(losses) * step_stride,
                "epoch": 0,
                "loss": loss,
                "lr": 1e-4,
                "grad_norm": 1.0,
                "tokens": 100,
                "samples_seen": step * 4,
                "tokens_per_second": 10.0,
                "elapsed": float(step),
            }
            f.write(json.dumps(entry) + "\n")


def test_search_order(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    (run / "data.jsonl").write_text("{}\n")
    with pytest.raises(FileNotFoundError):
        find_metrics_file(run)
    (run / "checkpoint-2").mkdir()
    (run / "checkpoint-10").mkdir()
    (run / "checkpoint-2" / "trainer_state.json").write_text(
        json.dumps({"log_history": [{"loss": 1.0, "step": 1}]})
    )
    (run / "checkpoint-10" / "trainer_state.json").write_text(
        json.dumps({"log_history": [{"loss": 2.0, "step": 9}]})
    )
    assert find_metrics_file(run).parent.name == "checkpoint-10"
    (run / "training_params_and_metrics_global0.jsonl").write_text('{"avg_loss": 3.0}\n')
    assert find_metrics_file(run).name == "training_params_and_metrics_global0.jsonl"
    (run / "metrics.jsonl").write_text('{"loss": 1}\n')
    assert find_metrics_file(run).name == "metrics.jsonl"
    (run / "training_metrics.jsonl").write_text('{"loss": 1}\n')
    assert find_metrics_file(run).name == "training_metrics.jsonl"
    (run / "training_log.jsonl").write_text('{"loss": 1}\n')
    assert find_metrics_file(run).name == "training_log.jsonl"


def test_loss_key_order_steps_and_skipped_entries(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    lines = [
        {"avg_loss": 2.0, "loss": 9.0, "step": 10},
        {"eval_loss": 1.0, "step": 15},
        "not json",
        {"loss": 1.5, "step": 20},
        {"train_loss": 1.0},
    ]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines))
    curve = read_loss_curve(run)
    assert curve.losses == [2.0, 1.5, 1.0]
    assert curve.steps == [10.0, 20.0, 4.0]  # the last record has no step: its position among records
    assert curve.key == "avg_loss"


def test_trainer_state_log_history(tmp_path: Path) -> None:
    ckpt = tmp_path / "r" / "checkpoint-4"
    ckpt.mkdir(parents=True)
    history = [{"loss": 3.0, "step": 2}, {"loss": 2.0, "step": 4}, {"train_loss": 2.5, "step": 4}]
    (ckpt / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    curve = read_loss_curve(tmp_path / "r")
    assert curve.losses == [3.0, 2.0, 2.5] and curve.steps == [2.0, 4.0, 4.0]


def test_ema_matches_the_recurrence() -> None:
    values = [4.0, 2.0, 3.0]
    alpha = 2 / 31
    expected = [4.0, alpha * 2 + (1 - alpha) * 4.0]
    expected.append(alpha * 3 + (1 - alpha) * expected[-1])
    assert exponential_moving_average(values) == pytest.approx(expected)


def _color_pixels(png: Path, rgb: tuple[int, int, int]) -> int:
    from matplotlib import image

    pixels = (image.imread(str(png))[..., :3] * 255).round().astype(int)
    return int(np.all(np.abs(pixels - np.array(rgb)) <= 6, axis=-1).sum())


TAB_BLUE = (31, 119, 180)
TAB_ORANGE = (255, 127, 14)
TAB_GREEN = (44, 160, 44)


def test_png_holds_one_curve_per_run_and_default_location(tmp_path: Path) -> None:
    a, b = tmp_path / "run-a", tmp_path / "run-b"
    write_engine_metrics(a, [3.0 - 0.02 * i for i in range(100)])
    write_engine_metrics(b, [2.0 + 0.01 * i for i in range(50)], step_stride=2)
    path = plot_loss([str(a), str(b)], labels=["A", "B"])
    assert path == str(a / "loss_plot.png")
    png = Path(path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _color_pixels(png, TAB_BLUE) > 200 and _color_pixels(png, TAB_ORANGE) > 200
    assert _color_pixels(png, TAB_GREEN) == 0
    from matplotlib import image

    height, width = image.imread(str(png)).shape[:2]
    assert (width, height) == (pytest.approx(1500, abs=150), pytest.approx(900, abs=90))  # 10x6 in at dpi 150


def test_single_run_string_output_path_and_ema(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_engine_metrics(run, [float(i % 7) for i in range(60)])
    out = tmp_path / "plots" / "loss.png"
    assert plot_loss(str(run), ema=True, output_path=str(out)) == str(out)
    assert out.is_file() and _color_pixels(out, TAB_BLUE) > 200


def test_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no loss data"):
        plot_loss(str(empty))
    write_engine_metrics(tmp_path / "r", [1.0])
    with pytest.raises(InvalidInputError, match="2 labels for 1"):
        plot_loss([str(tmp_path / "r")], labels=["a", "b"])


def test_cli_plot_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_engine_metrics(a, [2.0, 1.5, 1.2, 1.0] * 10)
    write_engine_metrics(b, [2.5, 2.0, 1.8, 1.7] * 10)
    out = tmp_path / "cmp.png"
    assert cli(["plot-loss", str(a), str(b), "--labels", "x,y", "--ema", "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert _color_pixels(out, TAB_ORANGE) > 100
    assert cli(["plot-loss", str(tmp_path / "nothing-here")]) == 2
    assert "no loss data" in capsys.readouterr().err


def test_eval_loss_is_read_and_drawn_beside_the_training_loss(tmp_path: Path) -> None:
    losses = [3.0 - 0.02 * i for i in range(100)]
    plain, with_eval = tmp_path / "plain", tmp_path / "eval"
    write_engine_metrics(plain, losses)
    write_engine_metrics(with_eval, losses)
    rows = read_metrics(with_eval)
    for row in rows:
        if row["step"] % 10 == 0:
            row["eval_loss"] = row["loss"] + 0.3
    # instructlab-training / mini-trainer log the validation loss as a record of its own
    rows.append({"step": 100, "val_loss": 1.2, "val_num_tokens": 50})
    (with_eval / "training_metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    curve = read_loss_curve(with_eval)
    assert curve.eval_steps == [float(s) for s in range(10, 101, 10)] + [100.0]
    assert curve.eval_losses[0] == pytest.approx(losses[9] + 0.3) and curve.eval_losses[-1] == 1.2
    assert curve.losses == pytest.approx(losses)  # the eval-only record adds no training point
    assert read_loss_curve(plain).eval_losses == []
    a = plot_loss(str(plain), output_path=str(tmp_path / "a.png"))
    b = plot_loss(str(with_eval), output_path=str(tmp_path / "b.png"))
    assert _color_pixels(Path(b), TAB_BLUE) > _color_pixels(Path(a), TAB_BLUE) + 300
