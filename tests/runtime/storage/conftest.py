"""Fixtures of the storage tests: one moto S3 server for the whole session, and a bucket per test."""

from __future__ import annotations

from tests.support.s3 import *  # noqa: F403
