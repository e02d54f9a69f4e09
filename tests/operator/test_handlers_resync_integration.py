"""The full resync's listing against a real API server: every unfinished run, page by page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.support.trainingruns import run_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


def test_unfinished_runs_are_listed_in_pages_and_finished_ones_left_out(
    operator_plane: ControlPlane, namespace: str
) -> None:
    from training_hub.contracts.kinds import TRAININGRUN
    from training_hub_operator.handlers import unfinished_runs
    from training_hub_operator.kube import Kube

    names = [f"resync-{i}" for i in range(5)]
    operator_plane.apply([run_manifest(n) for n in names], namespace=namespace)
    kube = Kube(operator_plane.api_client())
    done = {"phase": "Succeeded", "completionTime": "2026-01-01T00:00:00Z"}
    for name in names[:2]:
        kube.patch(TRAININGRUN, namespace, name, {"status": done}, subresource="status")
    # Ended without a completion time: the run still has a cleanup to finish, so it is resynced.
    kube.patch(TRAININGRUN, namespace, names[2], {"status": {"phase": "Failed"}}, subresource="status")

    pages: list[list[tuple[str, str]]] = []
    request = kube.request

    def counting(method: str, path: str, body: Any = None, **kw: Any) -> Any:
        data = request(method, path, body, **kw)
        pages.append(kw.get("query") or [])
        return data

    kube.request = counting  # type: ignore[method-assign]
    keys = unfinished_runs(kube, [namespace], page_size=2)

    assert sorted(keys) == [(namespace, n) for n in names[2:]]
    assert len(pages) == 3  # 5 runs, 2 a page
    assert all(("limit", "2") in q for q in pages)
    assert [k for k, _ in pages[1]].count("continue") == 1
