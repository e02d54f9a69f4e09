"""A loop in a daemon thread, started and stopped by its owner (the local kubelet, the node heartbeat)."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Runs :meth:`_loop` in a daemon thread until :meth:`_stop_loop`.

    Subclasses implement ``_loop`` and leave it when ``self._stop`` is set (``self._stop.wait(interval)``
    between rounds).
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        raise NotImplementedError

    def _start_loop(self, name: str) -> None:
        """Start the thread named ``name``."""
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _stop_loop(self, timeout: float) -> None:
        """Ask the loop to end and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
