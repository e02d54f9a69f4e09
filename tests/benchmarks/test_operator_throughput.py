"""The operator benchmark's pieces: request classification, the counting proxy, and a tiny full run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from benchmarks.api_proxy import classify, proxy_kubeconfig
from benchmarks.benchlib import percentile
from benchmarks.operator_census import census_summary
from benchmarks.operator_code import operator_env
from benchmarks.operator_measure import checkpoints_for, log_problems, reconciles_by_trigger
from benchmarks.operator_probe import top_growth
from benchmarks.operator_report import table
from benchmarks.operator_throughput import run


@pytest.mark.unit
@pytest.mark.parametrize(
    ("method", "path", "query", "label"),
    [
        ("GET", "/apis/kubeflow.org/v1/namespaces/a/pytorchjobs/x", "", "GET pytorchjobs"),
        ("GET", "/apis/kubeflow.org/v1/namespaces/a/pytorchjobs", "labelSelector=x", "LIST pytorchjobs"),
        ("GET", "/apis/traininghub.io/v1alpha1/trainingruns", "watch=true", "WATCH trainingruns"),
        (
            "PATCH",
            "/apis/traininghub.io/v1alpha1/namespaces/a/trainingruns/x/status",
            "",
            "PATCH trainingruns/status",
        ),
        ("POST", "/api/v1/namespaces/a/events", "", "POST events"),
        ("GET", "/api/v1/namespaces/a", "", "GET namespaces"),
        ("GET", "/version", "", "GET /version"),
    ],
)
def test_classify_requests(method: str, path: str, query: str, label: str) -> None:
    assert classify(method, path, query) == label


@pytest.mark.unit
def test_percentile_interpolates() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([3.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(range(101)), 99) == pytest.approx(99.0)


@pytest.mark.unit
def test_proxy_kubeconfig_points_at_the_proxy_and_keeps_the_token(tmp_path: Path) -> None:
    src = tmp_path / "kubeconfig"
    src.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "l",
                        "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True},
                    }
                ],
                "users": [{"name": "admin", "user": {"token": "t0k"}}],
            }
        )
    )
    cfg = yaml.safe_load(proxy_kubeconfig(src, 4242, tmp_path).read_text())
    assert cfg["clusters"][0]["cluster"] == {"server": "http://127.0.0.1:4242"}
    assert cfg["users"][0]["user"]["token"] == "t0k"


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_small_operator_run_counts_one_job_create_per_run(tmp_path: Path) -> None:
    # Probed (tracemalloc): the quick run also exercises the snapshots and their diff.
    res = run([3], tmp_path, timeout=180, rate=50.0, probe=True)
    (row,) = res["rows"]
    assert row["complete"] and row["jobs_created"] == 3 and row["runs_created"] == 3
    assert [m["launched"] for m in row["rss_at_launched"]] == [0, 3]
    probe = row["tracemalloc"]
    assert probe["between"] == ["0", "end"] and list(probe["traced_mib"]) == ["0", "3", "end"]
    assert probe["growth_sites"] and " MiB " in probe["growth_sites"][0]
    assert "traced Python MiB" in table(res)
    census = row["census"]
    assert [c["label"] for c in census] == ["0", "3", "end"]
    assert census[-1]["trim"]["rss_after"] > 0 and "trim" not in census[0]
    assert census[-1]["runner"]["phases"]["count"] == 3  # the operator's own per-run maps, read inside it
    assert census[-1]["kopf_memories"] == [{"count": 0, "mib": census[-1]["kopf_memories"][0]["mib"]}]
    assert "the operator's memory at launched runs" in table(res)
    assert row["api_requests_by_kind"].get("POST pytorchjobs") == 3
    assert row["api_requests_per_run"] >= 1
    assert 0 <= row["latency_p50_seconds"] <= row["latency_p99_seconds"] <= row["latency_max_seconds"]
    assert row["rss_idle_bytes"] > 0
    assert "API requests / launched run" in table(res)


@pytest.mark.unit
def test_checkpoints_are_below_n_and_n_itself() -> None:
    assert checkpoints_for(3) == [3]
    assert checkpoints_for(1000) == [1000]
    assert checkpoints_for(2500) == [1000, 2500]
    assert checkpoints_for(10_000) == [1000, 5000, 10_000]


@pytest.mark.unit
def test_probe_snapshots_on_sigusr1_and_names_the_growing_line(tmp_path: Path) -> None:
    import os
    import signal
    import tracemalloc

    from benchmarks import operator_probe

    previous = signal.getsignal(signal.SIGUSR1)
    tracemalloc.start(1)
    try:
        operator_probe._install(tmp_path)
        os.kill(os.getpid(), signal.SIGUSR1)
        kept = [bytearray(4096) for _ in range(256)]  # 1 MiB held across the second snapshot
        os.kill(os.getpid(), signal.SIGUSR1)
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGUSR1, previous)
    first, second = (operator_probe.snapshot_path(tmp_path, i) for i in (0, 1))
    assert first.exists() and second.exists() and not list(tmp_path.glob("*.tmp"))
    censuses = [json.loads(operator_probe.census_path(tmp_path, i).read_text()) for i in (0, 1)]
    assert censuses[1]["traced"] - censuses[0]["traced"] >= 2**20
    assert censuses[1]["rss"] > 0 and "trim" not in censuses[1] and "operator" in censuses[1]
    top = top_growth(first, second, limit=3)
    assert "test_operator_throughput.py" in top[0] and top[0].startswith("+1.0")
    assert operator_probe.traced_total(second) - operator_probe.traced_total(first) >= 2**20
    del kept


@pytest.mark.unit
def test_sigusr2_writes_a_census_then_trims(tmp_path: Path) -> None:
    import os
    import signal

    from benchmarks import operator_probe

    previous = (signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGUSR2))
    try:
        operator_probe._install(tmp_path)
        os.kill(os.getpid(), signal.SIGUSR2)
    finally:
        signal.signal(signal.SIGUSR1, previous[0])
        signal.signal(signal.SIGUSR2, previous[1])
    facts = json.loads(operator_probe.census_path(tmp_path, 0).read_text())
    assert not operator_probe.snapshot_path(tmp_path, 0).exists()  # tracemalloc is off here
    assert facts["trim"]["rss_after"] > 0
    summary = census_summary(facts)
    assert summary["rss"] == facts["rss"] / 2**20 and summary["trim"]["ms"] >= 0
    assert summary["pymalloc_arenas"] >= summary["pymalloc_in_use"] > 0


@pytest.mark.unit
def test_deep_size_counts_what_a_map_holds_once() -> None:
    from benchmarks.operator_probe import deep_size

    shared = "x" * 1000
    assert deep_size({"a": (shared, shared), "b": shared}) < 2 * len(shared)
    assert deep_size({"a": ["y" * 1000], "b": ["z" * 1000]}) > 2000


@pytest.mark.unit
def test_the_benchmark_runs_the_operator_with_the_images_malloc_arenas() -> None:
    assert operator_env() == {"MALLOC_ARENA_MAX": "2"}


@pytest.mark.unit
def test_reconciles_are_summed_per_trigger_from_the_metrics_text() -> None:
    text = "\n".join(
        [
            "# TYPE traininghub_reconcile_total counter",
            'traininghub_reconcile_total{result="ok",trigger="create"} 10.0',
            'traininghub_reconcile_total{result="error",trigger="create"} 2.0',
            'traininghub_reconcile_total{result="ok",trigger="resync"} 5.0',
            'traininghub_reconcile_created{result="ok",trigger="resync"} 1.7e9',
        ]
    )
    assert reconciles_by_trigger(text) == {"create": 12.0, "resync": 5.0}


@pytest.mark.unit
def test_log_problems_counts_warnings_errors_and_tracebacks(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    log.write_text(
        "\n".join(
            [
                '{"message": "reconciled a/b", "severity": "info"}',
                '{"message": "resync: listing failed", "severity": "warning"}',
                "Traceback (most recent call last):",
                '{"message": "boom", "severity": "error"}',
            ]
        )
    )
    problems = log_problems(log, keep=2)
    assert problems["count"] == 3
    assert problems["last"] == [
        "Traceback (most recent call last):",
        '{"message": "boom", "severity": "error"}',
    ]


def _row(n: int, growth_mib: float, code: str | None = None) -> dict[str, object]:
    idle = 100 * 2**20
    return {
        "n": n,
        "code": code,
        "complete": True,
        "runs_created": n,
        "jobs_created": n,
        "latency_p99_seconds": 0.1,
        "api_requests_per_run": 4.0,
        "rss_idle_bytes": idle,
        "rss_after_bytes": idle + int(growth_mib * 2**20),
        "rss_growth_per_run_bytes": growth_mib * 2**20 / n,
    }


@pytest.mark.unit
def test_pairs_against_a_baseline_give_a_ratio_per_pair_and_judge_this_tree() -> None:
    from benchmarks.operator_report import _comparison_text
    from benchmarks.operator_summary import summarize

    rows = [_row(2000, 40.0, "/tmp/base"), _row(2000, 30.0), _row(2000, 44.0, "/tmp/base"), _row(2000, 33.0)]
    paired = [
        {
            "pair": 0,
            "order": "AB",
            "load_before": [1.0],
            "load_after": [1.0],
            "n": 2000,
            "growth_mib": [40.0, 30.0],
        },
        {
            "pair": 1,
            "order": "BA",
            "load_before": [1.0],
            "load_after": [1.0],
            "n": 2000,
            "growth_mib": [44.0, 33.0],
        },
    ]
    res = summarize([2000], rows, paired, "abc123")
    assert res["rss_growth_mib"] == pytest.approx(33.0) and res["meets_rss_target"]
    assert res["comparison"]["rss_growth_ratio"]["per_pair"] == pytest.approx([0.75, 0.75])
    assert res["rss_growth_exponent"] is None  # one size: no slope across sizes
    text = _comparison_text(res)
    assert "interleaved pairs" in text and "(0.75x)" in text and "median 0.75x" in text


@pytest.mark.unit
def test_growth_exponent_across_sizes() -> None:
    from benchmarks.operator_summary import summarize

    res = summarize([1000, 4000], [_row(1000, 10.0), _row(4000, 20.0)], [], None)
    assert res["rss_growth_exponent"] == pytest.approx(0.5) and res["rss_growth_sublinear"]
    assert res["comparison"] == {}


@pytest.mark.unit
def test_a_baseline_tree_is_exported_with_its_image_environment(tmp_path: Path) -> None:
    from benchmarks.operator_code import code_path, export_tree

    tree = export_tree("HEAD", tmp_path / "base")
    assert (tree / "operator" / "training_hub_operator" / "runner.py").is_file()
    assert (tree / "runtime" / "training_hub" / "__init__.py").is_file()
    assert operator_env(tree)["MALLOC_ARENA_MAX"] == "2"
    assert code_path(tree).split(":")[:2] == [str(tree / "operator"), str(tree / "runtime")]
