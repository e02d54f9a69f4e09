"""Checkpoint mirroring to an object store (``checkpoint_storage``), with completion markers, and restore.

The remote layout mirrors ``ckpt_output_dir``::

    <uri>/full_state/samples_<N>/...        model.pt, optimizer.pt, ..., training_metrics.jsonl (a snapshot)
    <uri>/hf_format/samples_<N>/...         Hugging Face checkpoints
    <uri>/hf_format/final/...               the final model (LoRA: the adapter)

Each directory's files are uploaded first and its :data:`COMPLETE_MARKER` object last (upstream
training_hub 0.11's name); a directory that is re-uploaded loses its marker before the first file is
replaced. Restore only considers directories carrying the marker, so a checkpoint whose upload was cut off
(a pod killed mid-upload) is never taken as complete.

Uploads run on a background thread from a hard-linked staging copy (pruning the local checkpoint cannot
truncate an upload); :meth:`CheckpointMirror.drain` waits for them and raises the first failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training_hub.contracts.run_files import METRICS_FILE
from training_hub.engine import checkpoint as ckpt
from training_hub.storage.objectstore import StorageError, check_access, filesystem, storage_error
from training_hub.storage.transfer import Progress, human_size
from training_hub.worker_thread import ensure_running, serve_queue

log = logging.getLogger("training_hub.storage")

#: Object written last into every mirrored directory; restore ignores directories without it.
COMPLETE_MARKER = ".upload_complete"
#: Local directory (under the output directory) holding hard-linked copies while they upload.
STAGING_DIR = ".upload_staging"
#: Metrics file of the engine; a snapshot travels with every full-state checkpoint.
_SAMPLES_RE = re.compile(r"^samples_(\d+)$")
_ATTEMPTS = 3
#: Failures a retry of the same request cannot fix.
PERMANENT_REASONS = frozenset({"StorageCredentialsInvalid", "StorageBucketNotFound", "StorageAccessDenied"})


def upload_dir(fs: Any, local: Path, prefix: str, progress: Progress | None = None) -> None:
    """Upload the files of ``local`` to ``prefix`` and write the completion marker last.

    Args:
        fs: Filesystem rooted at the mirror URI.
        local: Local directory.
        prefix: Remote directory, relative to the mirror root.
        progress: Optional progress logger (bytes).
    """
    marker = f"{prefix}/{COMPLETE_MARKER}"
    if fs.exists(marker):
        fs.rm_file(marker)  # being replaced: not complete until the new marker is written
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        rel = path.relative_to(local).as_posix()
        if rel == ckpt.COMPLETE_MARKER:
            continue
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                fs.put_file(str(path), f"{prefix}/{rel}")
                break
            except Exception as exc:
                if attempt == _ATTEMPTS or storage_error(exc, prefix).reason in PERMANENT_REASONS:
                    raise
                time.sleep(attempt)
        if progress is not None:
            progress.add(path.stat().st_size)
    fs.pipe_file(marker, b"ok\n")


def complete_checkpoints(fs: Any, parent: str) -> list[tuple[int, str]]:
    """Remote ``<parent>/samples_<N>`` directories carrying the completion marker, sorted by N."""
    try:
        keys = fs.find(parent)
    except FileNotFoundError:
        return []
    found = []
    for key in keys:
        key = str(key).strip("/")
        head, _, name = key.rpartition("/")
        if name != COMPLETE_MARKER:
            continue
        par, _, leaf = head.rpartition("/")
        m = _SAMPLES_RE.match(leaf)
        if m and par == parent.strip("/"):
            found.append((int(m.group(1)), head))
    return sorted(found)


def download_dir(fs: Any, prefix: str, dest: Path, progress: Progress | None = None) -> Path:
    """Download a complete remote directory into ``dest`` atomically (local ``COMPLETE`` marker last)."""
    keys = [str(k).strip("/") for k in fs.find(prefix)]
    with ckpt.atomic_dir(dest) as tmp:
        for key in keys:
            rel = key[len(prefix.strip("/")) + 1 :]
            if not rel or rel == COMPLETE_MARKER or ".." in rel.split("/"):
                continue
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(key, str(target))
            if progress is not None:
                progress.add(target.stat().st_size)
    return dest


def _say(message: str) -> None:
    log.info("%s", message)


class CheckpointMirror:
    """Mirrors the checkpoints under ``local_root`` to ``uri`` and restores the newest complete one.

    Args:
        uri: The mirror location (any fsspec URI, e.g. ``s3://bucket/run``).
        local_root: The engine's output directory (``ckpt_output_dir``).
        say: Where progress lines go (default: the ``training_hub.storage`` logger).
    """

    def __init__(self, uri: str, local_root: Path, say: Callable[[str], None] = _say) -> None:
        self.uri = uri.rstrip("/")
        self.local_root = Path(local_root)
        self.say = say
        self.fs = filesystem(self.uri)
        # One staging directory per mirror: two mirrors of one output directory to different URIs
        # (``checkpoint_storage`` and upstream's upload callback) must not delete each other's staged files.
        self.staging = self.local_root / STAGING_DIR / hashlib.sha256(self.uri.encode()).hexdigest()[:12]
        self._queue: queue.Queue[tuple[Path, str, bool] | None] = queue.Queue()
        self._errors: list[StorageError] = []
        self._thread: threading.Thread | None = None
        self.uploaded: list[str] = []

    # ------------------------------------------------------------------------------------------ start
    def verify(self) -> None:
        """Fail fast when the mirror cannot be listed and written (bad credentials, missing bucket)."""
        check_access(self.uri, write=True)

    def restore_latest(self, parent: str = "full_state") -> Path | None:
        """Download the newest complete remote ``<parent>/samples_<N>`` unless a local one is complete.

        Returns:
            The local directory restored, or None (a local checkpoint exists, or nothing complete remote).

        Raises:
            StorageError: When the store fails.
        """
        local_parent = self.local_root / parent
        if ckpt.latest_checkpoint(local_parent) is not None:
            return None
        try:
            found = complete_checkpoints(self.fs, parent)
            if not found:
                self.say(f"no complete checkpoint under {self.uri}/{parent}: training starts from step 0")
                return None
            _, prefix = found[-1]
            sizes = [int(self.fs.size(k) or 0) for k in self.fs.find(prefix)]
            progress = Progress(f"restoring {self.uri}/{prefix}", sum(sizes), self.say)
            dest = download_dir(self.fs, prefix, self.local_root / prefix, progress)
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise storage_error(exc, self.uri) from None
        progress.report(final=True)
        metrics = dest / METRICS_FILE
        if metrics.is_file() and not (self.local_root / METRICS_FILE).exists():
            shutil.copy2(metrics, self.local_root / METRICS_FILE)
        self.say(f"restored checkpoint {self.uri}/{prefix} into {dest}")
        return dest

    # --------------------------------------------------------------------------------------- uploads
    def on_checkpoint(self, path: str, kind: str) -> None:
        """Queue a committed checkpoint directory for upload (staged with hard links first).

        Raises:
            StorageError: When an earlier upload failed (training stops rather than run unmirrored).
        """
        self.raise_pending()
        src = Path(path).resolve()
        rel = src.relative_to(self.local_root.resolve()).as_posix()
        staged = self.staging / rel
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        ckpt.link_or_copy_tree(src, staged)
        metrics = self.local_root / METRICS_FILE
        if kind == "full_state" and metrics.is_file():
            shutil.copy2(metrics, staged / METRICS_FILE)
        self._ensure_thread()
        self._queue.put((staged, rel, True))

    def upload_now(self, path: Path, rel: str) -> None:
        """Upload a directory synchronously (no staging)."""
        self._upload(path, rel)

    def _upload(self, local: Path, rel: str) -> None:
        size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        progress = Progress(f"uploading {rel} to {self.uri}", size, self.say)
        try:
            upload_dir(self.fs, local, rel, progress)
        except Exception as exc:  # noqa: BLE001
            raise storage_error(exc, f"{self.uri}/{rel}") from None
        self.uploaded.append(f"{self.uri}/{rel}")
        self.say(f"mirrored {rel} to {self.uri}/{rel} ({human_size(size)})")

    def _ensure_thread(self) -> None:
        self._thread = ensure_running(self._thread, self._run, "training-hub-mirror")

    def _run(self) -> None:
        serve_queue(self._queue, self._upload_queued)

    def _upload_queued(self, item: tuple[Path, str, bool]) -> None:
        local, rel, cleanup = item
        try:
            self._upload(local, rel)
        except StorageError as exc:
            log.error("checkpoint upload failed: %s", exc)
            self._errors.append(exc)
        finally:
            if cleanup:
                shutil.rmtree(local, ignore_errors=True)

    def raise_pending(self) -> None:
        """Raise the first upload failure so far (consumed)."""
        if self._errors:
            first = self._errors.pop(0)
            self._errors.clear()
            raise first

    def drain(self) -> None:
        """Wait until every queued upload finished; raise the first failure.

        Raises:
            StorageError: When an upload failed.
        """
        if self._thread is not None and self._thread.is_alive():
            self._queue.join()
        shutil.rmtree(self.staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # another mirror of this directory may still stage there
            self.staging.parent.rmdir()
        self.raise_pending()
