"""S3 fixtures: one moto S3 server for the whole session, its credentials in the environment, a bucket per test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.support.s3server import S3Server, start_server, stop_server

__all__ = ["bucket", "s3_env", "s3_server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (moto) on loopback with authentication on; stopped at the end."""
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    proc, server = start_server(log)
    try:
        yield server
    finally:
        stop_server(proc)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process (and its children) talk to the test server with the valid user."""
    env = s3_server.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture
def bucket(s3_server: S3Server, request: pytest.FixtureRequest) -> str:
    """A fresh bucket named after the test."""
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    return s3_server.create_bucket(f"th-{name}-{os.getpid() % 10000}")
