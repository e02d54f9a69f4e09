"""Stage an object-store location (a model directory or a data file) into a local directory, with progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from training_hub.storage.objectstore import StorageError, filesystem, split_uri, storage_error
from training_hub.storage.transfer import Progress


def stage_in(uri: str, dest: Path, say: Callable[[str], None]) -> Path:
    """Download ``uri`` below ``dest``: one object as ``dest/<name>``, a prefix as the directory ``dest``.

    Args:
        uri: ``s3://bucket/key`` of a file, or ``s3://bucket/prefix`` of a directory (a model).
        dest: Local directory to fill.
        say: Where progress lines go.

    Returns:
        The local file or directory.

    Raises:
        StorageError: When the store refuses, or nothing is stored at ``uri``.
    """
    _, base = split_uri(uri)
    try:
        fs = filesystem(uri).fs
        if fs.isfile(base):
            target = dest / PurePosixPath(base).name
            sizes = {base: int(fs.size(base) or 0)}
        else:
            target = dest
            sizes = {str(k): int(v.get("size") or 0) for k, v in fs.find(base, detail=True).items()}
        if not sizes:
            raise StorageError("StorageObjectNotFound", uri, "no object under this location")
        progress = Progress(f"staging {uri}", sum(sizes.values()), say)
        say(f"staging {uri} ({len(sizes)} object(s)) into {target}")
        for key, size in sorted(sizes.items()):
            rel = PurePosixPath(key).relative_to(base).as_posix() if key != base else target.name
            local = target / rel if target == dest else target
            if ".." in PurePosixPath(rel).parts:
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(key, str(local))
            progress.add(size)
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 (every store failure becomes a StorageError)
        raise storage_error(exc, uri) from None
    progress.report(final=True)
    return target
