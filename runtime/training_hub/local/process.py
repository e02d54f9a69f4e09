"""One pod as a local process: its own process group, prefixed and buffered output, the signals a container
runtime sends, its termination message, and every process it left behind (found by an env marker)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from training_hub.contracts import pod_env
from training_hub.local.pods import LocalPod

#: Env marker inherited by every process of a local pod: the pod's "container" is the set of processes that
#: carry it (they may start their own sessions, and outlive their parent when it is killed).
POD_MARKER_ENV = pod_env.LOCAL_POD


def marked_pids(marker: str) -> list[int]:
    """Pids of this user's processes whose environment holds ``TRAINING_HUB_LOCAL_POD=<marker>``."""
    needle = f"{POD_MARKER_ENV}={marker}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@dataclass(eq=False)
class PodProcess:
    """A pod running as a local process (its own process group), with prefixed, buffered output.

    Attributes:
        pod: The pod.
        argv: Its container's command line.
        env: Its environment (the process marker is added).
        cwd: Working directory.
        termination_log: Where the container writes its termination message.
        attempt: Which attempt of the pod this is (0-based).
        output: Where its prefixed output goes (None: kept in :attr:`tail` only).
        tail_lines: How many output lines :attr:`tail` keeps.
    """

    pod: LocalPod
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    termination_log: Path
    attempt: int
    output: TextIO | None
    tail_lines: int = 200

    def __post_init__(self) -> None:
        self.tail: deque[str] = deque(maxlen=self.tail_lines)
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self.killed_by_executor = False
        self.marker = f"{self.pod.name}-{self.attempt}-{os.getpid()}-{id(self):x}"
        self.env = {**self.env, POD_MARKER_ENV: self.marker}
        #: When the process started (RFC 3339, UTC).
        self.started_at = ""

    @property
    def name(self) -> str:
        """The pod's name."""
        return self.pod.name

    @property
    def pid(self) -> int | None:
        """Pid of the pod's main process (also its process group id)."""
        return self.proc.pid if self.proc else None

    def start(self) -> PodProcess:
        """Start the process."""
        with contextlib.suppress(FileNotFoundError):
            self.termination_log.unlink()
        self.termination_log.parent.mkdir(parents=True, exist_ok=True)
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, name=f"output-{self.name}", daemon=True)
        self._reader.start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        prefix = f"[{self.name}] "
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.tail.append(line)
            if self.output is not None:
                with contextlib.suppress(ValueError, OSError):
                    self.output.write(prefix + line + "\n")
                    self.output.flush()

    def poll(self) -> int | None:
        """The exit code once the process ended (after its output is drained), else ``None``.

        When the main process has ended, whatever it left running is killed, as a container's processes
        end with the container.
        """
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is not None:
            self._kill_leftovers()
            if self._reader is not None:
                self._reader.join(timeout=5)
        return code

    def _kill_leftovers(self) -> None:
        for pid in marked_pids(self.marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; return its exit code."""
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self._kill_leftovers()
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def signal(self, sig: int) -> None:
        """Signal the pod as a container runtime does: SIGKILL ends every process of the pod (in any
        session), other signals go to its main process (the container's PID 1)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = marked_pids(self.marker) if sig == signal.SIGKILL else [self.proc.pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def terminate(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds, as the kubelet stops a container."""
        if self.proc is None:
            return None
        self.killed_by_executor = True
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.wait(timeout=30)

    def termination_message(self) -> str:
        """The pod's termination message, else the last output line (Kubernetes' FallbackToLogsOnError)."""
        with contextlib.suppress(OSError):
            text = self.termination_log.read_text(encoding="utf-8").strip()
            if text:
                return text
        return self.tail[-1] if self.tail else ""
