"""The callback payload: hub callback classes sent by source to the processes torchrun starts.

A live object cannot cross into a torchrun worker, so the class source of each callback is written (base64,
inside a JSON file readable only by its owner) and ``TRAINING_HUB_CALLBACKS_PATH`` points the workers at
it; each worker rebuilds one instance per class with a no-argument constructor. Consequences (upstream's
rules too): define callback classes at module level in a file, import inside methods, keep helpers inside
the class, and expect no instance state to travel.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from training_hub.callbacks import TrainingHubCallback, TrainingHubContext, TrainingHubControl
from training_hub.contracts import pod_env

#: Environment variable naming the payload file in training processes.
CALLBACKS_PATH_ENV = pod_env.CALLBACKS_PATH
#: File name of the payload inside its directory.
PAYLOAD_FILE = "training_hub_callbacks.json"


def normalize_hub_callbacks(callbacks: Any) -> list[TrainingHubCallback]:
    """``None``, one callback or a sequence of them, as a list.

    Raises:
        TypeError: An item is not a :class:`TrainingHubCallback` instance.
    """
    if callbacks is None:
        return []
    items = [callbacks] if isinstance(callbacks, TrainingHubCallback) else list(callbacks)
    for item in items:
        if not isinstance(item, TrainingHubCallback):
            raise TypeError(f"callbacks must be TrainingHubCallback instances, got {type(item).__name__}")
    return items


def encode_hub_callback(callback: TrainingHubCallback) -> dict[str, str]:
    """One callback's class, as ``{"name": ..., "source": <base64 of the class source>}``.

    Raises:
        ValueError: The class source cannot be read (defined dynamically, in a notebook cell, nested).
    """
    cls = type(callback)
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError) as exc:
        raise ValueError(
            f"Cannot serialize callback {cls.__name__} for the training processes ({exc}): define it at "
            "module level in a .py file, import inside its methods, give it a no-argument constructor"
        ) from exc
    return {"name": cls.__name__, "source": base64.b64encode(source.encode()).decode("ascii")}


def decode_hub_callback(entry: dict[str, str]) -> TrainingHubCallback:
    """Rebuild one callback instance from :func:`encode_hub_callback`'s entry.

    The payload is written by this run's own launcher (not untrusted input).

    Raises:
        ValueError: The source does not define exactly one callback class.
    """
    source = base64.b64decode(entry["source"]).decode()
    namespace: dict[str, Any] = {
        "__name__": f"training_hub_callback_{entry.get('name', 'payload')}",
        "TrainingHubCallback": TrainingHubCallback,
        "TrainingHubContext": TrainingHubContext,
        "TrainingHubControl": TrainingHubControl,
    }
    exec(compile(source, f"<training_hub callback {entry.get('name')}>", "exec"), namespace)  # noqa: S102
    found = [
        value
        for value in namespace.values()
        if isinstance(value, type)
        and issubclass(value, TrainingHubCallback)
        and value is not TrainingHubCallback
    ]
    if len(found) != 1:
        raise ValueError(
            f"callback payload entry {entry.get('name')!r} defines {len(found)} TrainingHubCallback "
            "classes, expected exactly one"
        )
    instance: TrainingHubCallback = found[0]()
    return instance


def encode_hub_callbacks(callbacks: list[TrainingHubCallback]) -> str:
    """Several callbacks as one base64 string (a JSON list of entries)."""
    entries = [encode_hub_callback(cb) for cb in callbacks]
    return base64.b64encode(json.dumps(entries).encode()).decode("ascii")


def decode_hub_callbacks(encoded: str) -> list[TrainingHubCallback]:
    """The inverse of :func:`encode_hub_callbacks` (fresh instances)."""
    return [decode_hub_callback(entry) for entry in json.loads(base64.b64decode(encoded))]


def write_hub_callbacks_payload(callbacks: list[TrainingHubCallback], payload_dir: str | None = None) -> str:
    """Write the payload file (mode 0600) and return its absolute path.

    Args:
        callbacks: The callbacks to send.
        payload_dir: Directory of the file (created); default: a new temporary directory. Use a directory
            every node sees (the checkpoint directory) for multi-node runs.
    """
    directory = Path(payload_dir) if payload_dir else Path(tempfile.mkdtemp(prefix="training_hub_callbacks_"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / PAYLOAD_FILE
    data = json.dumps({"callbacks": [encode_hub_callback(cb) for cb in callbacks]})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    path.chmod(0o600)
    return str(path.resolve())


def load_hub_callbacks_payload(path: str | None = None) -> list[TrainingHubCallback]:
    """The callbacks of a payload file (default: ``$TRAINING_HUB_CALLBACKS_PATH``; none when unset)."""
    path = path or os.environ.get(CALLBACKS_PATH_ENV)
    if not path:
        return []
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [decode_hub_callback(entry) for entry in data.get("callbacks", [])]


def set_callbacks_payload_env(path: str) -> None:
    """Point this process and the processes it starts at a payload file."""
    os.environ[CALLBACKS_PATH_ENV] = path
