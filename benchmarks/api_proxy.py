"""A counting reverse proxy for the Kubernetes API (loopback only), used by the operator benchmark.

The operator under test gets a kubeconfig whose server is ``http://127.0.0.1:<port>``; every request is
counted (by verb and resource) and forwarded to the real API server, with responses streamed back (watch
streams included). ``GET /__counts`` answers the counts as JSON (not forwarded), ``POST /__reset`` zeroes
them. Only the operator's requests pass through it, so the counts are exactly the operator's API traffic.

:func:`start_proxy` starts it in a subprocess, :func:`proxy_kubeconfig` points a kubeconfig at it,
:func:`read_counts` and :func:`reset_counts` read and zero its counts.

Usage: ``python -m benchmarks.api_proxy --upstream https://127.0.0.1:6443 --port 0 --port-file F``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from benchmarks.benchlib import ROOT, subprocess_env

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade", "te", "trailer"}


def classify(method: str, path: str, query: str) -> str:
    """A label `VERB resource[/subresource]` for a request (LIST and WATCH told apart as the API server does).

    >>> classify("GET", "/apis/kubeflow.org/v1/namespaces/a/pytorchjobs/x", "")
    'GET pytorchjobs'
    >>> classify("PATCH", "/apis/traininghub.io/v1alpha1/namespaces/a/trainingruns/x/status", "")
    'PATCH trainingruns/status'
    >>> classify("GET", "/api/v1/namespaces/a/events", "watch=true")
    'WATCH events'
    """
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return f"{method} /{'/'.join(parts[:2])}"
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return f"{method} /{'/'.join(parts[:3])}"
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = f"/{rest[2]}" if len(rest) > 2 else ""
    verb = method
    if method == "GET":
        verb = "WATCH" if "watch=true" in query or "watch=1" in query else ("GET" if name else "LIST")
    return f"{verb} {resource}{sub}"


async def serve(upstream: str, port: int, port_file: Path | None) -> None:
    """Run the proxy until cancelled."""
    from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

    counts: Counter[str] = Counter()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # The bodies pass through as the API server sent them: it gzips responses over 128 KiB (a CRD list, a
    # page of 500 runs) for a client that accepts gzip (kopf's aiohttp does); decompressed here under the
    # upstream's ``Content-Encoding: gzip`` header, they failed to decode in the operator (kopf's watchers
    # then listed again and again: the "LIST customresourcedefinitions" figures before this fix).
    session = ClientSession(
        connector=TCPConnector(ssl=ctx, limit=0), timeout=ClientTimeout(total=None), auto_decompress=False
    )

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/__counts":
            return web.json_response({"total": sum(counts.values()), "by_kind": dict(counts)})
        if request.path == "/__reset":
            counts.clear()
            return web.json_response({"ok": True})
        counts[classify(request.method, request.path, request.query_string)] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        url = upstream + str(request.rel_url)
        async with session.request(request.method, url, headers=headers, data=body or None) as up:
            resp = web.StreamResponse(status=up.status)
            for k, v in up.headers.items():
                if k.lower() not in _HOP:
                    resp.headers[k] = v
            await resp.prepare(request)
            try:
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
            except (ConnectionResetError, asyncio.CancelledError):
                pass
            return resp

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if port_file is not None:
        port_file.write_text(str(bound))
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", default=None)
    args = parser.parse_args(argv)
    if not args.upstream.startswith("https://127.") and not args.upstream.startswith("http://127."):
        parser.error("the upstream must be a loopback address")
    asyncio.run(serve(args.upstream.rstrip("/"), args.port, Path(args.port_file) if args.port_file else None))
    return 0


def read_counts(port: int) -> dict[str, Any]:
    """The proxy's counts (`total`, `by_kind`)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__counts", timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def reset_counts(port: int) -> None:
    """Zero the proxy's counts (``POST /__reset``)."""
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}/__reset", method="POST"), timeout=10
    )


def start_proxy(upstream: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the counting proxy in a subprocess; returns it and its port."""
    port_file = workdir / "proxy.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.api_proxy", "--upstream", upstream, "--port-file", str(port_file)],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "proxy.log", "wb"),  # noqa: SIM115 (lives as long as the proxy)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the API proxy did not start: {(workdir / 'proxy.log').read_text()[-2000:]}")


def proxy_kubeconfig(kubeconfig: Path, port: int, workdir: Path) -> Path:
    """A copy of the admin kubeconfig whose server is the proxy."""
    cfg = yaml.safe_load(kubeconfig.read_text())
    cfg["clusters"][0]["cluster"] = {"server": f"http://127.0.0.1:{port}"}
    out = workdir / "kubeconfig-proxy"
    out.write_text(yaml.safe_dump(cfg))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
