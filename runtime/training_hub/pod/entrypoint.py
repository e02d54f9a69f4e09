"""The training pod's entrypoint: ``training-hub run-pod [--spec PATH]``.

It reads the :class:`~training_hub.pod.spec.PodRunSpec` the operator wrote into the training container's
``TRAINING_HUB_RUN_SPEC`` variable (or the file ``--spec`` names), takes
the rendezvous from the environment the launcher set (``PET_*`` / ``MASTER_*``, with the library's
precedence rules), and calls the algorithm through the public API, which starts ``torchrun`` itself when
more than one process is needed. The exit code tells the owner whether to retry:

====  ==============================================================  =========
code  meaning                                                           retried
====  ==============================================================  =========
0     every local rank finished                                          -
1     unexpected error                                                   yes
3     bad input (parameters, data, model): :class:`InvalidInputError`    no
4     infrastructure (rendezvous, lost peer, storage)                    yes
====  ==============================================================  =========

A one-line reason goes to ``/dev/termination-log`` (``TRAINING_HUB_TERMINATION_LOG`` overrides it), where
Kubernetes picks it up as the container's termination message and the operator shows it in the
TrainingRun's status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from training_hub.contracts.errors import validation_message
from training_hub.errors import InfrastructureError, InvalidInputError, TrainingHubError
from training_hub.pod import exit_codes
from training_hub.pod.demo import is_demo_uri, materialize_demo_data, materialize_demo_model
from training_hub.pod.mounts import PATH_PARAMS, in_pod, mount_root, write_termination_message
from training_hub.pod.spec import RUN_SPEC_ENV, SCRATCH_DIR_ENV, PodRunSpec
from training_hub.storage.objectstore import StorageError
from training_hub.storage.uri import MIRROR_ENV, kind_of
from training_hub.torchrun import TORCHRUN_KEYS, get_torchrun_params

#: Parameters the launcher owns (they come from the environment, never from the spec): torchrun's.
RENDEZVOUS_PARAMS: tuple[str, ...] = TORCHRUN_KEYS

#: Names of exception classes (from torch and the network stack) that mean "the infrastructure failed".
_INFRASTRUCTURE_ERROR_NAMES: frozenset[str] = frozenset(
    {
        "RendezvousError",
        "RendezvousTimeoutError",
        "RendezvousClosedError",
        "RendezvousConnectionError",
        "RendezvousStateError",
        "DistNetworkError",
        "DistStoreError",
        "DistBackendError",
        "ChildFailedError",
        "ConnectionError",
        "ConnectionResetError",
        "ConnectionRefusedError",
        "BrokenPipeError",
        "TimeoutError",
    }
)


def _log(message: str) -> None:
    print(f"[training-hub run-pod] {message}", file=sys.stderr, flush=True)


def load_spec(path: str | None, env: Mapping[str, str] | None = None) -> PodRunSpec:
    """Read and validate the run spec: from the file ``path`` when given, else from ``TRAINING_HUB_RUN_SPEC``.

    Args:
        path: The spec path as the pod sees it (mapped under ``TRAINING_HUB_MOUNT_ROOT`` when set), or
            None to read the environment variable the operator sets.
        env: Environment (default: ``os.environ``).

    Returns:
        The validated spec.

    Raises:
        InvalidInputError: When the spec is missing, not JSON, or not a valid spec.
    """
    environ = os.environ if env is None else env
    if path is not None:
        local = in_pod(path, environ)
        try:
            raw = Path(local).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read the run spec {local}: {exc.strerror or exc}") from None
    else:
        local = f"${RUN_SPEC_ENV}"
        if not environ.get(RUN_SPEC_ENV):
            raise InvalidInputError(
                f"no run spec: {RUN_SPEC_ENV} is not set (the operator sets it on the training container) "
                "and no --spec PATH was given"
            )
        raw = environ[RUN_SPEC_ENV]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"the run spec {local} is not JSON: {exc}") from None
    try:
        spec = PodRunSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid run spec {local}: {validation_message(exc)}") from None
    from training_hub.params import ALGORITHMS

    if spec.algorithm not in ALGORITHMS:
        raise InvalidInputError(
            f"unknown algorithm {spec.algorithm!r} in {local}; choose one of {', '.join(ALGORITHMS)}"
        )
    owned = sorted(set(spec.params) & set(RENDEZVOUS_PARAMS))
    if owned:
        raise InvalidInputError(
            f"the run spec sets {', '.join(owned)}, which the launcher owns: the rendezvous comes from the "
            "environment (PET_* / MASTER_*)"
        )
    return spec


def resolve_rendezvous(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve torchrun settings from the environment (``PET_*`` > ``MASTER_*`` > defaults).

    Raises:
        InvalidInputError: On conflicting or invalid settings.
    """
    return get_torchrun_params({}, env=os.environ if env is None else env)


@contextlib.contextmanager
def localized_params(
    params: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Map the spec's paths to this machine and build demo assets (``tiny://``) for the duration.

    Args:
        params: The spec's ``params``.
        env: Environment (default: ``os.environ``).

    Yields:
        Parameters ready for the algorithm function.
    """
    out = dict(params)
    for key in PATH_PARAMS:
        value = out.get(key)
        if isinstance(value, str) and not is_demo_uri(value):
            out[key] = in_pod(value, env)
    with contextlib.ExitStack() as stack:
        if any(kind_of(str(out.get(k, ""))) == "s3" for k in PATH_PARAMS):
            stage_object_store_locations(out, scratch_dir(stack, env))
        needs_tmp = any(is_demo_uri(str(out.get(k, ""))) for k in ("model_path", "data_path"))
        if needs_tmp:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="training-hub-demo-")))
            if is_demo_uri(str(out.get("model_path", ""))):
                out["model_path"] = str(materialize_demo_model(str(out["model_path"]), tmp / "model"))
                _log(f"built demo model {params['model_path']} at {out['model_path']}")
            if is_demo_uri(str(out.get("data_path", ""))):
                out["data_path"] = str(materialize_demo_data(str(out["data_path"]), tmp / "data.jsonl"))
                _log(f"built demo data {params['data_path']} at {out['data_path']}")
        yield out


def scratch_dir(stack: contextlib.ExitStack, env: Mapping[str, str] | None = None) -> Path:
    """The pod's scratch volume (:data:`SCRATCH_DIR_ENV`, an emptyDir), else a temporary directory."""
    environ = os.environ if env is None else env
    given = environ.get(SCRATCH_DIR_ENV, "").strip()
    if given:
        path = Path(in_pod(given, env))
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="training-hub-scratch-")))


def stage_object_store_locations(params: dict[str, Any], scratch: Path) -> None:
    """Replace ``s3://`` locations by local ones: the model and data are staged into ``scratch``; an
    ``s3://`` output becomes a local directory mirrored to the bucket (``checkpoint_storage``), so a fresh
    pod resumes from the newest complete checkpoint there.

    Raises:
        StorageError: When the store refuses (bad credentials, missing bucket) or holds nothing there.
    """
    from training_hub.storage.objectstore import check_access
    from training_hub.storage.staging import stage_in

    output = params.get("ckpt_output_dir")
    if isinstance(output, str) and kind_of(output) == "s3":
        check_access(output, write=True)
        if params.get("checkpoint_storage") not in (None, "", "pvc", output):
            raise InvalidInputError(
                f"checkpoint_storage={params['checkpoint_storage']!r} and an s3:// output directory "
                f"{output!r}: the output is mirrored to its own URI; drop checkpoint_storage"
            )
        params["checkpoint_storage"] = output
        params["ckpt_output_dir"] = str(scratch / "output")
        os.environ[MIRROR_ENV] = f"{params['ckpt_output_dir']}={output}"  # progress names the bucket
        _log(
            f"output {output}: training into {params['ckpt_output_dir']}, checkpoints mirrored to the bucket"
        )
    for key, sub in (("model_path", "model"), ("data_path", "data")):
        value = params.get(key)
        if isinstance(value, str) and kind_of(value) == "s3":
            check_access(value, write=False)
            params[key] = str(stage_in(value, scratch / sub, _log))


def pin_planned_engine(spec: PodRunSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Make the pod run the engine the operator planned (``spec.engine``): ``params['backend']`` is set to it.

    The plan's GPU count was sized for that engine's memory behaviour, so ``auto`` must not resolve to a
    different one in this image.

    Args:
        spec: The run spec.
        params: The algorithm's keywords.

    Returns:
        The keywords with ``backend`` set to the planned engine (unchanged when the spec names none).

    Raises:
        InvalidInputError: When this image cannot import the planned engine, or the spec's ``backend``
            contradicts it.
    """
    planned = spec.engine
    if planned is None:
        return params
    given = params.get("backend")
    if given not in (None, "auto", planned.name):
        raise InvalidInputError(
            f"the run spec asks for backend {given!r} but the plan was made for engine {planned.name!r}"
        )
    from training_hub.backends.selection import missing_modules

    missing = missing_modules(planned.name)
    if missing:
        image = planned.image or "(the pod's image)"
        why = f" ({planned.reason})" if planned.reason else ""
        raise InvalidInputError(
            f"the operator planned engine {planned.name}{why}, but image {image} cannot import "
            f"{', '.join(missing)}: use an image with {planned.name} installed (spec.runtime.image) or set "
            "spec.backend to a backend the image has"
        )
    return {**params, "backend": planned.name}


def algorithm_function(name: str) -> Callable[..., Any]:
    """The public API function of an algorithm (``training_hub.sft`` ...)."""
    import training_hub

    fn = getattr(training_hub, name, None)
    if not callable(fn):
        raise InvalidInputError(f"this runtime image has no algorithm {name!r}")
    return fn  # type: ignore[no-any-return]


def with_jit_checkpoint(algorithm: str, params: dict[str, Any]) -> dict[str, Any]:
    """Turn on ``enable_jit_checkpoint`` for a pod whose run trains on this project's engine.

    The library keeps upstream's default (off), but a pod is preempted by SIGTERM (eviction, Kueue, node
    drain) and must save a resumable checkpoint then, so the pod path sets it explicitly: when the
    algorithm has the parameter, the spec leaves it unset and the backend (``auto`` resolved here, as the
    algorithm function would) is a portable one, i.e. our engine. An explicit ``false`` is kept; the
    upstream engines (instructlab-training, mini-trainer, unsloth) do not checkpoint on SIGTERM here.
    """
    from training_hub.algorithms.base import AlgorithmRegistry, choose_backend
    from training_hub.params import param_model

    if params.get("enable_jit_checkpoint") is not None:
        return params
    if "enable_jit_checkpoint" not in param_model(algorithm).model_fields:
        return params
    backend = params.get("backend") or "auto"
    if backend == "auto":
        backend = choose_backend(algorithm, params)[0]
    if not AlgorithmRegistry.get_backend(algorithm, backend).portable:
        return params
    return {**params, "enable_jit_checkpoint": True}


def classify(exc: BaseException) -> int:
    """Map an exception to the pod's exit code (see the module docstring)."""
    if isinstance(exc, InvalidInputError | ValidationError):
        return exit_codes.INVALID_INPUT
    if isinstance(exc, InfrastructureError):
        return exit_codes.INFRASTRUCTURE
    if isinstance(exc, TrainingHubError):
        return exc.exit_code
    for cls in type(exc).__mro__:
        if cls.__name__ in _INFRASTRUCTURE_ERROR_NAMES:
            return exit_codes.INFRASTRUCTURE
    return exit_codes.FAILED


def describe(exc: BaseException) -> str:
    """A one-line, user-facing description of an exception."""
    if isinstance(exc, ValidationError):
        return f"invalid parameters: {validation_message(exc)}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, TrainingHubError):
        return text
    return f"{type(exc).__name__}: {text}"


def run_pod(spec_path: str | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the training of one pod (one node) and return its exit code.

    Args:
        spec_path: Path of ``run.json`` as the pod sees it; None reads ``TRAINING_HUB_RUN_SPEC``.
        env: Environment to read the rendezvous from (default: ``os.environ``).

    Returns:
        The exit code (see the module docstring); the reason is in the termination log.
    """
    environ = os.environ if env is None else env
    started = time.monotonic()
    try:
        spec = load_spec(spec_path, environ)
        rdzv = resolve_rendezvous(environ)
        where = f" (local mount root {mount_root(environ)})" if mount_root(environ) else ""
        _log(
            f"run {spec.run.namespace}/{spec.run.name}: {spec.algorithm} on node {rdzv['node_rank']} of "
            f"{rdzv['nnodes']} x {rdzv['nproc_per_node']} processes, rendezvous "
            f"{rdzv.get('master_addr') or rdzv.get('rdzv_endpoint') or 'standalone'}"
            f"{':' + str(rdzv['master_port']) if rdzv.get('master_port') else ''}{where}"
        )
        fn = algorithm_function(spec.algorithm)
        pinned = pin_planned_engine(spec, spec.params)
        if spec.engine is not None:
            _log(f"engine {spec.engine.name} (planned: {spec.engine.reason or 'spec.backend'})")
        with localized_params(pinned, environ) as params:
            fn(**with_jit_checkpoint(spec.algorithm, params), **rdzv)
    except KeyboardInterrupt:
        reason = "Terminated: interrupted"
        write_termination_message(reason, environ)
        _log(reason)
        return exit_codes.TERMINATED
    except BaseException as exc:  # noqa: BLE001 (every failure becomes an exit code and a reason)
        if isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else exit_codes.FAILED
            if code == 0:
                return exit_codes.SUCCEEDED
            reason = f"{exit_codes.reason_for(code)}: the training process exited with {code}"
        else:
            code = classify(exc)
            # A store's refusal carries its own reason (StorageCredentialsInvalid, ...) first.
            reason = describe(exc)
            if not isinstance(exc, StorageError):
                reason = f"{exit_codes.reason_for(code)}: {reason}"
        write_termination_message(reason, environ)
        _log(reason)
        if code == exit_codes.FAILED and not isinstance(exc, SystemExit | TrainingHubError):
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        return code
    elapsed = time.monotonic() - started
    message = f"Succeeded: {spec.algorithm} finished on node {rdzv['node_rank']} in {elapsed:.1f}s"
    write_termination_message(message, environ)
    _log(message)
    return exit_codes.SUCCEEDED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``run-pod``'s arguments to a parser."""
    parser.add_argument(
        "--spec",
        default=None,
        metavar="PATH",
        help=f"Path of a run spec file (run.json); default: the JSON in ${RUN_SPEC_ENV}, set by the operator.",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m training_hub.pod --spec PATH``: the same as ``training-hub run-pod``."""
    parser = argparse.ArgumentParser(prog="training-hub run-pod", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_pod(args.spec)


if __name__ == "__main__":
    sys.exit(main())
