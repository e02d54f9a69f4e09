"""A real S3-compatible server on loopback for the storage tests: moto's server (``moto_server``, moto 5).

The server runs as a subprocess on a free port. Request authentication is switched on the way moto's own
tests do (``POST /moto-api/reset-auth`` with ``0``: every later request must be signed with a key moto's IAM
knows): an IAM user with an S3 policy and an access key is created first, so valid credentials work and
bad ones get the store's real ``InvalidAccessKeyId`` / ``SignatureDoesNotMatch`` refusals.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.controlplane.cluster import free_port, stop_process
from training_hub.storage.mirror import COMPLETE_MARKER


@dataclass(frozen=True)
class S3Server:
    """A running server and a user allowed to do anything on S3.

    Attributes:
        endpoint: ``http://127.0.0.1:<port>``.
        access_key: A valid access key id.
        secret_key: Its secret.
        region: The region the clients use.
    """

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    log_path: Path | None = None

    def requests(self, method: str, path: str) -> int:
        """How many ``method`` requests for exactly ``/path`` the server has answered so far, from its own
        access log (werkzeug's line per request: ``"PUT /bucket/key HTTP/1.1" 200``)."""
        if self.log_path is None:
            return 0
        line = f'"{method} /{path.lstrip("/")} HTTP/'
        return self.log_path.read_text(errors="replace").count(line)

    def env(self, *, access_key: str | None = None, secret_key: str | None = None) -> dict[str, str]:
        """Environment of a process using this server (credentials overridable for the bad-key tests)."""
        return {
            "AWS_ACCESS_KEY_ID": access_key or self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            # No instance metadata lookups, no config files of the machine running the tests.
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self) -> Any:
        """A boto3 S3 client with the valid user."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> str:
        """Create a bucket (if missing) and return its name."""
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix``."""
        paginator = self.client().get_paginator("list_objects_v2")
        out: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(out)

    def completed(self, bucket: str, prefix: str) -> list[str]:
        """The directories under ``prefix`` (relative to it) that carry their completion marker."""
        base, suffix = prefix.rstrip("/") + "/", "/" + COMPLETE_MARKER
        return [k[len(base) : -len(suffix)] for k in self.keys(bucket, base) if k.endswith(suffix)]


def _moto_server_command(port: int) -> list[str]:
    exe = Path(sys.executable).with_name("moto_server")
    if exe.exists():
        return [str(exe), "-H", "127.0.0.1", "-p", str(port)]
    found = shutil.which("moto_server")
    if found:
        return [found, "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def start_server(log_path: Path) -> tuple[subprocess.Popen[bytes], S3Server]:
    """Start ``moto_server`` on a free loopback port, with request authentication on.

    Returns:
        The process (stop it with :func:`stop_server`) and the server's description.
    """
    import boto3

    port = free_port()
    log = log_path.open("wb")
    proc = subprocess.Popen(_moto_server_command(port), stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start: {log_path.read_text()[-2000:]}") from None
            time.sleep(0.2)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
        region_name="us-east-1",
    )
    iam.create_user(UserName="trainer")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="trainer", PolicyName="s3-all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="trainer")["AccessKey"]
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(request, timeout=5).read()
    return proc, S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], log_path=log_path)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server process (SIGTERM, then SIGKILL)."""
    stop_process(proc)
