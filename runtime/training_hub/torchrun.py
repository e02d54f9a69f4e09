"""torchrun settings: resolve them (explicit > environment > default) and build the launch command.

Compatible with upstream training_hub's ``get_torchrun_params``: the same environment variables
(``PET_*`` plus plain ``MASTER_ADDR`` / ``MASTER_PORT``), the same defaults and the same errors. Errors are
:class:`~training_hub.errors.InvalidInputError` (a ``ValueError``, as upstream raised).

This module imports torch only to count GPUs for ``nproc_per_node='auto'`` / ``'gpu'``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from typing import Any, Literal

from training_hub.contracts import pod_env
from training_hub.errors import InvalidInputError

#: The keys :func:`get_torchrun_params` reads from ``args``.
TORCHRUN_KEYS: tuple[str, ...] = (
    "nproc_per_node",
    "nnodes",
    "node_rank",
    "rdzv_id",
    "rdzv_endpoint",
    "master_addr",
    "master_port",
)

DEFAULTS: dict[str, int] = {"nproc_per_node": 1, "nnodes": 1, "node_rank": 0, "rdzv_id": 0}

Source = Literal["args", "env"]
# master_addr / master_port also accept the plain variables torch itself reads.
_PLAIN_ENV = ("master_addr", "master_port")


def _env_value(name: str, env: Mapping[str, str]) -> str | None:
    value = env.get(f"PET_{name.upper()}")
    if not value and name in _PLAIN_ENV:
        value = env.get(name.upper())
    return value or None


def _env_reference(name: str, env: Mapping[str, str]) -> str:
    if name in _PLAIN_ENV and not env.get(f"PET_{name.upper()}"):
        return name.upper()
    return f"PET_{name.upper()}"


def _check_env_agreement(name: str, env: Mapping[str, str]) -> None:
    pet, plain = env.get(f"PET_{name.upper()}"), env.get(name.upper())
    if pet and plain and pet != plain:
        raise InvalidInputError(
            f"conflicting environment variables: PET_{name.upper()}={pet!r} and {name.upper()}={plain!r}; "
            "they must match when both are set"
        )


def gpu_count() -> int:
    """Number of CUDA devices torch sees (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def _nproc(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInputError(
            f"nproc_per_node must be 'auto', 'gpu' or an integer, got {type(value).__name__} {value!r}"
        )
    if isinstance(value, int):
        if value < 1:
            raise InvalidInputError(f"nproc_per_node must be at least 1, got {value}")
        return value
    text = value.strip().lower()
    if text.isdigit():
        return _nproc(int(text))
    if text not in ("auto", "gpu"):
        raise InvalidInputError(f"nproc_per_node must be 'auto', 'gpu' or an integer, got {value!r}")
    if gpu_count() == 0:
        raise InvalidInputError(
            f"nproc_per_node={text!r} counts CUDA GPUs, but none are available; give a number of processes"
        )
    return "gpu"


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"invalid value for {name}: {value!r}; it must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"invalid value for {name}: {value!r}; it must be an integer") from None


def get_torchrun_params(args: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve torchrun settings with upstream training_hub's precedence: args > environment > defaults.

    A key present in ``args`` counts as set even when falsy (``None`` values are skipped: "not set").
    ``master_addr`` and ``rdzv_endpoint`` are mutually exclusive at the same level; at different levels the
    higher one wins with a :class:`UserWarning`. ``master_port`` is only used together with ``master_addr``.
    Without either address the launch is standalone (see :func:`torchrun_command`).

    Args:
        args: Explicit settings (other keys are ignored).
        env: Environment to read (default: ``os.environ``).

    Returns:
        ``nproc_per_node`` (int or ``'gpu'``), ``nnodes``, ``node_rank``, ``rdzv_id`` and at most one of
        ``master_addr`` (with optional ``master_port``) and ``rdzv_endpoint``.

    Raises:
        InvalidInputError: On invalid values or conflicting settings.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    given = {k: v for k, v in args.items() if k in TORCHRUN_KEYS and v is not None}

    def lookup(name: str) -> tuple[Any, Source | None]:
        if name in given:
            return given[name], "args"
        value = _env_value(name, environ)
        return (value, "env") if value is not None else (None, None)

    def reference(name: str, source: Source | None) -> str:
        return f"'{name}' (from args)" if source == "args" else _env_reference(name, environ)

    result: dict[str, Any] = {}
    nproc, _ = lookup("nproc_per_node")
    result["nproc_per_node"] = _nproc(nproc) if nproc is not None else DEFAULTS["nproc_per_node"]
    for name in ("nnodes", "node_rank"):
        value, _ = lookup(name)
        result[name] = _integer(name, value) if value is not None else DEFAULTS[name]
    if result["nnodes"] < 1:
        raise InvalidInputError(f"nnodes must be at least 1, got {result['nnodes']}")
    if not 0 <= result["node_rank"] < result["nnodes"]:
        raise InvalidInputError(
            f"node_rank must be in [0, nnodes={result['nnodes']}), got {result['node_rank']}"
        )
    rdzv_id, _ = lookup("rdzv_id")
    result["rdzv_id"] = (
        (rdzv_id.strip() if isinstance(rdzv_id, str) else rdzv_id) if rdzv_id is not None else 0
    )

    addr, addr_src = lookup("master_addr")
    endpoint, endpoint_src = lookup("rdzv_endpoint")
    if addr and endpoint:
        addr_ref, endpoint_ref = reference("master_addr", addr_src), reference("rdzv_endpoint", endpoint_src)
        if addr_src == endpoint_src:
            raise InvalidInputError(
                f"cannot set both {addr_ref}={addr!r} and {endpoint_ref}={endpoint!r} at the same level "
                f"({addr_src}): they are mutually exclusive"
            )
        if addr_src == "args":
            warnings.warn(
                f"both {addr_ref}={addr!r} and {endpoint_ref}={endpoint!r} are set; using {addr_ref} "
                f"(higher precedence) and ignoring {endpoint_ref}",
                UserWarning,
                stacklevel=2,
            )
            endpoint = None
        else:
            warnings.warn(
                f"both {endpoint_ref}={endpoint!r} and {addr_ref}={addr!r} are set; using {endpoint_ref} "
                f"(higher precedence) and ignoring {addr_ref}",
                UserWarning,
                stacklevel=2,
            )
            addr = None
    if addr:
        if addr_src == "env":
            _check_env_agreement("master_addr", environ)
        result["master_addr"] = str(addr)
        port, port_src = lookup("master_port")
        if port is not None:
            if port_src == "env":
                _check_env_agreement("master_port", environ)
            result["master_port"] = _integer("master_port", port)
    elif endpoint:
        result["rdzv_endpoint"] = str(endpoint)
    elif result["nnodes"] > 1:
        raise InvalidInputError(
            f"nnodes={result['nnodes']} needs a rendezvous: set master_addr (and master_port) or rdzv_endpoint "
            "(or PET_MASTER_ADDR / PET_RDZV_ENDPOINT)"
        )
    return result


def world_process_count(params: Mapping[str, Any]) -> int | None:
    """Total processes of a resolved torchrun setting (``None`` when ``nproc_per_node`` is ``'gpu'``)."""
    nproc = params.get("nproc_per_node", 1)
    if not isinstance(nproc, int):
        return None
    return nproc * int(params.get("nnodes", 1))


def needs_launch(params: Mapping[str, Any]) -> bool:
    """Whether the resolved setting needs more than this one process."""
    nproc = params.get("nproc_per_node", 1)
    return nproc != 1 or int(params.get("nnodes", 1)) > 1


def inside_torchrun(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process was started by torchrun (or another launcher setting ``LOCAL_RANK``)."""
    environ = os.environ if env is None else env
    return pod_env.TORCHELASTIC_RUN_ID in environ or pod_env.LOCAL_RANK in environ


def torchrun_command(
    params: Mapping[str, Any], module_args: list[str], python: str | None = None
) -> list[str]:
    """Build the argv that launches ``module_args`` under torchrun with resolved settings.

    Args:
        params: Output of :func:`get_torchrun_params`.
        module_args: What torchrun runs, e.g. ``["-m", "training_hub.engine", "--algorithm", "sft"]`` or
            ``["script.py", "--flag"]``.
        python: Interpreter (default: ``sys.executable``); torchrun runs as ``python -m torch.distributed.run``
            so the command does not depend on a ``torchrun`` script on ``PATH``.

    Returns:
        The full argv.
    """
    argv = [python or sys.executable, "-m", "torch.distributed.run"]
    argv += [
        f"--nnodes={params.get('nnodes', 1)}",
        f"--nproc-per-node={params.get('nproc_per_node', 1)}",
        f"--node-rank={params.get('node_rank', 0)}",
        f"--rdzv-id={params.get('rdzv_id', 0)}",
    ]
    if params.get("master_addr"):
        # master address and port only mean something with the static rendezvous.
        argv += ["--rdzv-backend=static", f"--master-addr={params['master_addr']}"]
        if params.get("master_port") is not None:
            argv.append(f"--master-port={params['master_port']}")
    elif params.get("rdzv_endpoint"):
        argv += ["--rdzv-backend=c10d", f"--rdzv-endpoint={params['rdzv_endpoint']}"]
    else:
        argv.append("--standalone")
    return argv + list(module_args)
