"""Start and stop a real Kubernetes 1.20 control plane without containers.

The plane is three local processes on free ports of 127.0.0.1, all state in one temporary directory:

* ``etcd`` (client and peer ports),
* ``kube-apiserver`` (secure port only, a static token in group ``system:masters``, RBAC, a service-account
  signing key made with ``openssl``),
* ``kube-controller-manager`` (garbage collector, namespace, job, service-account controllers: owner
  references are collected as in a real cluster),
* with ``with_scheduler=True``, ``kube-scheduler`` (the default profile of 1.20: it binds pods to nodes or
  marks them ``Unschedulable`` with its own message, and posts ``FailedScheduling`` Events).

A plane with the scheduler registers one CPU node, :data:`DEFAULT_NODE` (64 CPUs, 512 GiB, no GPU), and
heartbeats it as a kubelet would, so pods without GPU requests are bound to it. Tests add GPU nodes with
:class:`~training_hub.local.kubelet.LocalKubelet` (``nodes=[NodeSpec.gpu(...)]``). The scheduler is opt-in
(``tests/cluster`` uses it): it refuses pods whose PersistentVolumeClaims do not exist, and the other suites
map ``pvc://`` claims to local directories without claim objects. There is no real kubelet: pods stay
``Pending`` until a :class:`~training_hub.local.kubelet.LocalKubelet` runs them. Every process is started by
this module and stopped by its pid in :meth:`ControlPlane.stop` (also registered with :mod:`atexit`).

Example::

    plane = ControlPlane(bin_dir)
    plane.start()
    plane.kubectl("get", "namespaces")
    plane.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

#: Controllers of kube-controller-manager a test needs (no kubelet, so nothing pod-scheduling related).
DEFAULT_CONTROLLERS: tuple[str, ...] = (
    "garbagecollector",
    "namespace",
    "job",
    "serviceaccount",
    "serviceaccount-token",
    "clusterrole-aggregation",
    "ttl-after-finished",
)

BUILD_SCRIPT = Path(__file__).with_name("build.sh")
#: Binaries of the plane (besides etcd), all built by ``build.sh``.
BINARIES: tuple[str, ...] = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: The CPU node every plane registers (pods without GPU requests are scheduled onto it).
DEFAULT_NODE = "th-local"


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.25, message: str = "") -> Any:
    """Poll ``predicate()`` until it returns a truthy value; return that value.

    Raises:
        AssertionError: After ``timeout`` seconds, with ``message`` and the last value.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message or predicate} (last value: {last!r})")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM a process this suite started (by its pid); SIGKILL it when it has not exited after ``timeout``
    seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binaries(build_if_missing: bool = True) -> Path:
    """Locate the control plane binaries.

    Order: ``KUBEBUILDER_ASSETS`` (when it holds every binary of :data:`BINARIES` and ``etcd``), the build
    cache, else run ``build.sh`` (which builds what is missing, once; minutes).

    Args:
        build_if_missing: Run ``build.sh`` when nothing is found.

    Returns:
        The directory with ``kube-apiserver``, ``kube-controller-manager``, ``kube-scheduler`` and ``etcd``.

    Raises:
        ControlPlaneError: When nothing is found and building is not allowed or fails.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and all((Path(assets) / b).exists() for b in (*BINARIES, "etcd")):
        return Path(assets)
    cache = Path(
        os.environ.get("TRAINING_HUB_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "training-hub"
    )
    cached = cache / "k8s-1.20.2" / "bin"
    if all((cached / b).exists() for b in (*BINARIES, "etcd")):
        return cached
    if not build_if_missing:
        raise ControlPlaneError(f"no control plane binaries: set KUBEBUILDER_ASSETS or run {BUILD_SCRIPT}")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


class ControlPlane:
    """A local etcd + kube-apiserver + kube-controller-manager + kube-scheduler, and one CPU node.

    Attributes:
        bin_dir: Directory of the binaries.
        workdir: Temporary directory holding data, keys, logs and the kubeconfig.
        kubeconfig: Path of a kubeconfig with cluster-admin rights (valid once started).
        server: The API server URL.
        token: The static bearer token of the admin user.
    """

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        *,
        workdir: Path | str | None = None,
        controllers: Iterable[str] = DEFAULT_CONTROLLERS,
        with_controller_manager: bool = True,
        with_scheduler: bool = False,
        disable_admission_plugins: Iterable[str] = ("ServiceAccount",),
        enable_admission_plugins: Iterable[str] = (),
        controller_credentials: bool = False,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else find_binaries()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="th-controlplane-"))
        self.controllers = tuple(controllers)
        self.with_controller_manager = with_controller_manager
        self.with_scheduler = with_scheduler
        self.disable_admission_plugins = tuple(disable_admission_plugins)
        self.enable_admission_plugins = tuple(enable_admission_plugins)
        #: Each controller acts as its own ServiceAccount (``--use-service-account-credentials``, as
        #: kubeadm runs it), so admission sees e.g. ``system:serviceaccount:kube-system:job-controller``.
        self.controller_credentials = controller_credentials
        self.token = secrets.token_hex(16)
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server = ""
        self.etcd_url = ""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Any] = {}
        self._started = False
        self._nodes: Any = None

    # ----------------------------------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 90.0) -> ControlPlane:
        """Start etcd, the API server and the controller manager; return when the API answers.

        Raises:
            ControlPlaneError: If a process exits early or the API is not ready within ``timeout``.
        """
        if self._started:
            return self
        atexit.register(self.stop)
        self._started = True
        # Ports are picked free but may be taken by another process before etcd or the API server binds
        # them: a start that fails is retried from scratch a couple of times.
        for attempt in range(3):
            try:
                self._start(timeout)
                self._started = True
                return self
            except ControlPlaneError:
                self.stop()
                if attempt == 2:
                    raise
                self.workdir.mkdir(parents=True, exist_ok=True)
                self._procs.clear()
                self._logs.clear()
            except BaseException:
                self.stop()
                raise
        return self

    def _start(self, timeout: float) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        sa_key = pki / "sa.key"
        sa_pub = pki / "sa.pub"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True, timeout=60
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        tokens = pki / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin-uid,"system:masters"\n')

        etcd_client, etcd_peer = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        self.etcd_url = etcd_url
        self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",
            ],
            env_extra={"ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")},
        )
        api_port = free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={pki / 'serving'}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                *(
                    [f"--disable-admission-plugins={','.join(self.disable_admission_plugins)}"]
                    if self.disable_admission_plugins
                    else []
                ),
                *(
                    [f"--enable-admission-plugins={','.join(self.enable_admission_plugins)}"]
                    if self.enable_admission_plugins
                    else []
                ),
                "--enable-priority-and-fairness=false",
                "--v=0",
            ],
        )
        self._write_kubeconfig()
        self._wait_ready(timeout)
        if self.with_controller_manager and (self.bin_dir / "kube-controller-manager").exists():
            self._spawn(
                "kube-controller-manager",
                [
                    str(self.bin_dir / "kube-controller-manager"),
                    f"--kubeconfig={self.kubeconfig}",
                    f"--controllers={','.join(self.controllers)}",
                    f"--service-account-private-key-file={sa_key}",
                    "--port=0",
                    "--secure-port=0",
                    "--leader-elect=false",
                    "--concurrent-gc-syncs=5",
                    *(["--use-service-account-credentials"] if self.controller_credentials else []),
                    "--v=0",
                ],
            )
        if self.with_scheduler:
            self._spawn(
                "kube-scheduler",
                [
                    str(self.bin_dir / "kube-scheduler"),
                    f"--kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    "--port=0",
                    "--secure-port=0",
                    "--v=0",
                ],
            )
            self._register_default_node()
        time.sleep(0.5)
        self._check_alive()

    def _register_default_node(self) -> None:
        from training_hub.local.nodes import NodeHeartbeat, NodeSpec

        self._nodes = NodeHeartbeat(self.api_client(), [NodeSpec(DEFAULT_NODE)], delete_on_stop=False)
        self._nodes.start()

    def stop(self) -> None:
        """Stop every process this plane started (by pid), then remove the work directory."""
        if self._nodes is not None:
            self._nodes.stop()
            self._nodes = None
        for name in reversed(list(self._procs)):
            stop_process(self._procs[name])
        self._procs.clear()
        for fh in self._logs.values():
            with contextlib.suppress(Exception):
                fh.close()
        self._logs.clear()
        if self._own_workdir and self.workdir.exists() and not os.environ.get("TH_KEEP_CONTROLPLANE_DIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._started = False

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pids(self) -> dict[str, int]:
        """Pids of the running processes, by name."""
        return {n: p.pid for n, p in self._procs.items() if p.poll() is None}

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of a process's log (``etcd``, ``kube-apiserver``, ``kube-controller-manager``,
        ``kube-scheduler``)."""
        path = self.workdir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # ------------------------------------------------------------------------------------------ helpers
    def _spawn(self, name: str, argv: Sequence[str], env_extra: dict[str, str] | None = None) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        fh = open(logs / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop())
        self._logs[name] = fh
        env = dict(os.environ)
        env.update({k: v for k, v in (env_extra or {}).items() if v})
        self._procs[name] = subprocess.Popen(
            list(argv), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with {proc.returncode}; log tail:\n{self.log_tail(name)}"
                )

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "local", "cluster": {"server": self.server, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
            "current-context": "local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                proc = self.kubectl("get", "--raw", "/readyz", check=False, timeout=10)
            except subprocess.TimeoutExpired:  # a loaded machine: not ready yet, ask again
                last = "kubectl get --raw /readyz timed out"
                continue
            if proc.returncode == 0 and proc.stdout.strip() == "ok":
                # The default namespace and service account controller must exist before tests create objects.
                ns = self.kubectl("get", "namespace", "default", "-o", "name", check=False, timeout=10)
                if ns.returncode == 0:
                    return
            last = proc.stderr or proc.stdout
            time.sleep(0.3)
        raise ControlPlaneError(
            f"kube-apiserver not ready after {timeout}s ({last.strip()});"
            f" log tail:\n{self.log_tail('kube-apiserver')}"
        )

    def env(self) -> dict[str, str]:
        """An environment for subprocesses that talk to this plane (``KUBECONFIG`` set)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def kubectl(
        self,
        *args: str,
        input: str | None = None,  # noqa: A002 (mirrors subprocess.run)
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl --kubeconfig <ours> *args``.

        Args:
            *args: kubectl arguments.
            input: Text for stdin (e.g. a manifest with ``apply -f -``).
            check: Raise :class:`ControlPlaneError` on a non-zero exit.
            timeout: Seconds before the command is killed.

        Returns:
            The completed process (``stdout``/``stderr`` as text).
        """
        cmd = ["kubectl", f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"{' '.join(cmd[2:])} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def kubectl_json(self, *args: str) -> Any:
        """Run kubectl with ``-o json`` and parse the output."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def events_for(
        self, namespace: str, name: str, *, reasons: tuple[str, ...] = (), timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """The Events about object ``name``; with ``reasons``, wait until one of each reason exists (the
        operator posts Events from a background thread, a moment after the status write)."""

        def current() -> list[dict[str, Any]]:
            out = self.kubectl_json(
                "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
            )
            return list(out.get("items") or [])

        if not reasons:
            return current()
        last: list[dict[str, Any]] = []

        def complete() -> bool:
            nonlocal last
            last = current()
            return set(reasons) <= {e.get("reason") for e in last}

        wait_until(complete, timeout=timeout, message=f"events {reasons} about {name}")
        return last

    def patch_status(
        self, resource: str, namespace: str, name: str, status: dict[str, Any], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Merge ``status`` into an object's status subresource, as the object's controller writes it.

        Args:
            resource: The kubectl resource (``trainingrun``, ``pytorchjob``...).
            namespace: Namespace of the object.
            name: Name of the object.
            status: Fields merged into ``status`` (a JSON merge patch).
            check: Raise :class:`ControlPlaneError` when kubectl fails.

        Returns:
            The completed kubectl process.
        """
        return self.kubectl(
            "patch",
            resource,
            name,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
            check=check,
        )

    def apply(
        self, manifest: str | dict[str, Any] | list[dict[str, Any]] | Path, namespace: str | None = None
    ) -> str:
        """``kubectl apply`` a manifest given as YAML text, object(s) or a file path; return kubectl's output."""
        if isinstance(manifest, Path):
            text = manifest.read_text()
        elif isinstance(manifest, str):
            text = manifest
        else:
            docs = manifest if isinstance(manifest, list) else [manifest]
            text = yaml.safe_dump_all(docs)
        args = ["apply", "-f", "-"]
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(*args, input=text).stdout

    def create_namespace(self, name: str) -> str:
        """Create a namespace (idempotent) and return its name."""
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def wait_for_crd(self, name: str, timeout: float = 60.0) -> None:
        """Wait until a CRD is Established (its resources are served).

        Polled, not ``kubectl wait``: kubectl 1.20's wait fails at once on a CRD whose status has no
        conditions yet ("<nil> is of the type <nil>, expected []interface{}").
        """

        def established() -> bool:
            crd = self.kubectl_json("get", "crd", name)
            return any(
                c.get("type") == "Established" and c.get("status") == "True"
                for c in (crd.get("status") or {}).get("conditions") or []
            )

        wait_until(established, timeout, interval=0.2, message=f"CRD {name} Established")

    def install_crds(self, *paths: Path | str, restart_controller_manager: bool = True) -> list[str]:
        """Apply CRD manifests, wait until each is Established, then let the garbage collector see them.

        kube-controller-manager 1.20 rediscovers resource types only every 30 s; restarting it (about a
        second) makes owner-reference garbage collection of the new kinds immediate.

        Returns:
            The names of the CRDs applied.
        """
        names: list[str] = []
        for path in paths:
            for doc in yaml.safe_load_all(Path(path).read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    names.append(doc["metadata"]["name"])
            self.kubectl("apply", "-f", str(path))
        for name in names:
            self.wait_for_crd(name)
        if restart_controller_manager and "kube-controller-manager" in self._procs:
            self.restart_controller_manager()
        return names

    def restart_controller_manager(self) -> None:
        """Stop the controller manager (by pid) and start it again with the same arguments."""
        proc = self._procs.pop("kube-controller-manager")
        argv = proc.args
        stop_process(proc)
        self._logs.pop("kube-controller-manager").close()
        self._spawn("kube-controller-manager", list(argv))  # type: ignore[arg-type]

    def restart_apiserver(self, while_down: Any = None, timeout: float = 90.0) -> None:
        """Stop kube-apiserver (by pid; etcd keeps running) and start it again with the same arguments.

        Clients see their connections drop and watches end, as in a real API server restart or upgrade.

        Args:
            while_down: Optional callable run while the API server is stopped (e.g. :meth:`compact_etcd`).
            timeout: Seconds to wait until the restarted server is ready.
        """
        proc = self._procs.pop("kube-apiserver")
        argv = [str(a) for a in proc.args]  # type: ignore[union-attr]  # Popen was given a list
        stop_process(proc, timeout=20)
        self._logs.pop("kube-apiserver").close()
        if while_down is not None:
            while_down()
        self._spawn("kube-apiserver", argv)
        self._wait_ready(timeout)

    def etcd_revision(self) -> int:
        """The current revision of etcd (what resourceVersions are made of)."""
        return int(self._etcd_call("/v3/kv/range", {"key": "AA==", "limit": 1})["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision; return that revision.

        A watch resumed from a resourceVersion older than this fails with ``410 Gone`` (``Expired``), which
        clients must answer by listing again.
        """
        revision = self.etcd_revision()
        self._etcd_call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def _etcd_call(self, path: str, body: dict[str, Any]) -> Any:
        import urllib.request

        req = urllib.request.Request(
            self.etcd_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read().decode())

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` configured for this plane."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))
