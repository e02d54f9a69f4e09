"""Checkpoint directories: atomic writes, completion markers, discovery and pruning.

Layout under `ckpt_output_dir`::

    hf_format/samples_<N>/     model (or LoRA adapter) + tokenizer, loadable with transformers / peft
    hf_format/final/           the final model (LoRA: adapter, plus merged/ with merge_adapter)
    full_state/samples_<N>/    model.pt, optimizer.pt, scheduler.pt, rng/rank_<r>.pt, trainer_state.json

Every directory is written as `.tmp-<name>` in the same parent, files are fsynced, the `COMPLETE` marker is
written last, then the directory is renamed into place. A directory without `COMPLETE` is never used.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from training_hub.engine import hooks

COMPLETE_MARKER = "COMPLETE"
#: The final model (LoRA: the adapter) relative to `ckpt_output_dir`.
FINAL_MODEL_SUBDIR = "hf_format/final"
_SAMPLES_RE = re.compile(r"^samples_(\d+)$")


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file and directory below `path` (and `path` itself)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            _fsync_path(Path(root) / name)
        _fsync_path(Path(root))


def tmp_dir_for(final: Path) -> Path:
    """The temporary sibling a checkpoint directory is written into."""
    return final.parent / f".tmp-{final.name}"


def begin(final: Path) -> Path:
    """Create a fresh temporary directory for `final` (removing a stale one)."""
    tmp = tmp_dir_for(final)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


#: Commits so far in this process (for the ``checkpoint_written`` hook point).
_commits = 0


def commit(final: Path) -> None:
    """fsync the temporary directory, write the marker, and rename it to `final` (replacing it)."""
    global _commits
    tmp = tmp_dir_for(final)
    fsync_tree(tmp)
    _commits += 1
    hooks.fire("checkpoint_written", path=tmp, count=_commits)
    marker = tmp / COMPLETE_MARKER
    with marker.open("w") as fh:
        fh.write("ok\n")
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_path(tmp)
    if final.exists():
        trash = final.parent / f".old-{final.name}"
        if trash.exists():
            shutil.rmtree(trash)
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_path(final.parent)


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Context manager: yields a temporary directory and commits it to `final` on success."""
    tmp = begin(final)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit(final)


def is_complete(path: Path) -> bool:
    """True if `path` is a checkpoint directory with its completion marker."""
    return (path / COMPLETE_MARKER).is_file()


def list_checkpoints(parent: Path) -> list[tuple[int, Path]]:
    """Complete `samples_<N>` directories under `parent`, sorted by N."""
    if not parent.is_dir():
        return []
    found = []
    for child in parent.iterdir():
        m = _SAMPLES_RE.match(child.name)
        if m and child.is_dir() and is_complete(child):
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(parent: Path) -> Path | None:
    """The complete `samples_<N>` directory with the largest N, or None."""
    found = list_checkpoints(parent)
    return found[-1][1] if found else None


def prune(parent: Path, keep_last: int | None) -> list[Path]:
    """Delete all but the `keep_last` newest complete checkpoints (and stale temporary directories).

    Returns:
        The removed directories.
    """
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for child in parent.iterdir():
        if child.name.startswith((".tmp-", ".old-")) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
    if keep_last is None:
        return removed
    for _, path in list_checkpoints(parent)[:-keep_last]:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def link_or_copy_tree(src: Path, dst: Path) -> None:
    """Fill `dst` with the files of `src`, hard-linked where possible (no copy of large weights)."""
    for root, _dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if name == COMPLETE_MARKER:
                continue
            try:
                os.link(Path(root) / name, dst / rel / name)
            except OSError:
                shutil.copy2(Path(root) / name, dst / rel / name)
