"""``training-hub run trainingrun.yaml --local``: a TrainingRun manifest, planned, rendered and run here.

The manifest is the one a user would ``kubectl apply``. It is validated with the operator's models, planned
and rendered with the operator's pure functions (the same code the operator runs), and the rendered pods run
as local processes (:class:`~training_hub.local.executor.LocalExecutor`): one process per node, host names
mapped to loopback, ``pvc://claim/path`` mapped to ``<root>/pvc/<claim>/path`` (or a directory given with
``--pvc claim=DIR``). The only difference from a pod is that absolute paths are resolved under the pod's
local file tree (``TRAINING_HUB_MOUNT_ROOT``).

Validating, planning and rendering come from the operator package (``training_hub_operator``, same
distribution), imported lazily inside :func:`render_run`: importing ``training_hub`` never imports the
operator.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from training_hub.contracts.kinds import API_VERSION, KIND
from training_hub.errors import InvalidInputError
from training_hub.local.executor import ExecutionResult, LocalExecutor
from training_hub.local.process import PodProcess
from training_hub.local.workloads import expand
from training_hub.storage.uri import parse_location, pvc_claim
from training_hub.structured_files import read_structured


@dataclass
class RenderedRun:
    """A TrainingRun planned and rendered as the operator would.

    Attributes:
        name: Run name.
        namespace: Run namespace.
        launcher: Launcher name used.
        launcher_message: Why this launcher.
        plan_message: The plan's explanation.
        nodes: Planned nodes.
        gpus_per_node: Planned GPUs per node.
        objects: The child objects (the workload, and the native launcher's Service).
        output_uri: ``spec.output.uri``.
    """

    name: str
    namespace: str
    launcher: str
    launcher_message: str
    plan_message: str
    nodes: int
    gpus_per_node: int
    objects: list[dict[str, Any]] = field(default_factory=list)
    output_uri: str = ""


def load_manifest(path: str | Path) -> dict[str, Any]:
    """Read a TrainingRun manifest (the first ``TrainingRun`` document of a YAML file).

    Raises:
        InvalidInputError: When the file is missing, not YAML, or holds no TrainingRun.
    """
    p = Path(path)
    docs = read_structured(p, "", "YAML", documents=True)
    runs = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    if not runs:
        raise InvalidInputError(f"{p} holds no {KIND} (kind: {KIND}, apiVersion: {API_VERSION})")
    run = runs[0]
    if run.get("apiVersion") != API_VERSION:
        raise InvalidInputError(f"{p}: apiVersion must be {API_VERSION}, got {run.get('apiVersion')!r}")
    if not (run.get("metadata") or {}).get("name"):
        raise InvalidInputError(f"{p}: metadata.name is required")
    return run  # type: ignore[no-any-return]


def manifest_inputs(path: str | Path) -> list[dict[str, Any]]:
    """The Secrets and ConfigMaps in a manifest file beside its TrainingRun (e.g. the credentials Secret of
    ``spec.storage.secretRef``): local pods read them as a kubelet reads them from the API."""
    docs = yaml.safe_load_all(Path(path).read_text(encoding="utf-8"))
    return [d for d in docs if isinstance(d, dict) and d.get("kind") in ("Secret", "ConfigMap")]


def render_run(manifest: Mapping[str, Any], launcher: str | None = None) -> RenderedRun:
    """Validate, plan and render a TrainingRun with the operator's code.

    Args:
        manifest: The TrainingRun object.
        launcher: Override ``spec.launcher`` (``auto`` picks ``native``: there are no CRDs locally).

    Returns:
        The rendered run.

    Raises:
        InvalidInputError: When the spec is invalid, cannot be planned, or the launcher cannot render it.
    """
    # The one lazy call into the operator package: local mode renders with the operator's pure step.
    from training_hub_operator import rendering
    from training_hub_operator.api.validation import SpecError, validate_spec
    from training_hub_operator.launchers.auto import choose_launcher
    from training_hub_operator.model_config_sources import config_from_inline
    from training_hub_operator.planning import PlanningError
    from training_hub_operator.settings import OperatorSettings

    meta = dict(manifest.get("metadata") or {})
    name = str(meta["name"])
    namespace = str(meta.get("namespace") or "default")
    meta.update(
        name=name,
        namespace=namespace,
        uid=str(meta.get("uid") or f"local-{uuid.uuid4()}"),
        generation=int(meta.get("generation") or 1),
    )
    spec_dict = dict(manifest.get("spec") or {})
    try:
        validated = validate_spec(spec_dict)
    except SpecError as exc:
        raise InvalidInputError("invalid TrainingRun: " + "; ".join(exc.errors)) from None
    spec = validated.spec
    requested = launcher or spec.launcher
    # Locally nothing is served: auto falls through to native; a named launcher is emulated.
    choice = choose_launcher(requested, lambda kind: requested != "auto")
    run = {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": spec_dict}
    settings = OperatorSettings.from_env()
    try:
        plan = rendering.plan_run(validated, config_from_inline(spec), settings)
    except PlanningError as exc:
        raise InvalidInputError(f"cannot plan the run ({exc.reason}): {exc}") from None
    if choice.launcher is None:
        raise InvalidInputError(f"no launcher: {choice.message}")
    try:
        objects = rendering.render_objects(
            choice.launcher, rendering.identity(run), validated, plan, settings
        )
    except ValueError as exc:
        raise InvalidInputError(f"cannot render the run: {exc}") from None
    message = choice.message if requested != "auto" else "auto chose native: no cluster, no CRDs locally"
    return RenderedRun(
        name=name,
        namespace=namespace,
        launcher=choice.launcher.name,
        launcher_message=message,
        plan_message=plan.message,
        nodes=plan.nodes,
        gpus_per_node=plan.gpus_per_node,
        objects=objects,
        output_uri=spec.output.uri,
    )


def local_output_dir(uri: str, pvc_root: Path, pvc_dirs: Mapping[str, Path]) -> Path | None:
    """Where ``spec.output.uri`` lands on this machine (``None`` for a location outside any claim)."""
    claim = pvc_claim(uri)
    if claim is None:
        return None
    sub = parse_location(uri, ("pvc",)).path
    base = Path(pvc_dirs.get(claim, pvc_root / claim))
    return base / sub if sub else base


def run_local(
    manifest_path: str | Path,
    *,
    root: str | Path | None = None,
    pvc_dirs: Mapping[str, Path] | None = None,
    launcher: str | None = None,
    timeout: float | None = None,
    output: TextIO | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[RenderedRun, ExecutionResult]:
    """Plan, render and run a TrainingRun manifest on this machine.

    Args:
        manifest_path: The TrainingRun YAML.
        root: Working directory (default ``./.training-hub/<run name>``); claims go to ``<root>/pvc``.
        pvc_dirs: Local directories of some claims (``{"models": Path("/data/models")}``).
        launcher: Override ``spec.launcher``.
        timeout: Seconds before the run is stopped.
        output: Where progress and pod output go (default ``sys.stdout``).
        extra_env: Env added to every pod.

    Returns:
        The rendered run and the execution result.

    Raises:
        InvalidInputError: For an invalid manifest.
        LocalExecutionError: When a pod cannot run here.
    """
    out = output or sys.stdout
    manifest = load_manifest(manifest_path)
    rendered = render_run(manifest, launcher)
    work = Path(root) if root else Path.cwd() / ".training-hub" / rendered.name
    pvc_root = work / "pvc"
    dirs = {k: Path(v) for k, v in (pvc_dirs or {}).items()}

    def say(text: str) -> None:
        out.write(f"==> {text}\n")
        out.flush()

    say(f"TrainingRun {rendered.namespace}/{rendered.name}: {rendered.plan_message}")
    say(
        f"launcher {rendered.launcher} ({rendered.launcher_message}); rendered "
        + ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in rendered.objects)
    )

    def on_event(kind: str, proc: PodProcess) -> None:
        if kind == "started":
            say(f"pod {proc.name} started (attempt {proc.attempt})")
        elif kind == "exited":
            code = proc.poll()
            say(f"pod {proc.name} exited with {code}: {proc.termination_message()}")
        elif kind == "retrying":
            say(f"retrying pod {proc.name}")

    executor = LocalExecutor(
        work, pvc_root=pvc_root, pvc_dirs=dirs, output=out, extra_env=extra_env, on_event=on_event
    )
    executor.add_objects(manifest_inputs(manifest_path))
    executor.add_objects(rendered.objects)
    pods = expand(rendered.objects)
    say(f"running {len(pods)} pod(s) as local processes under {work}")
    result = executor.run(pods, timeout=timeout)
    where = local_output_dir(rendered.output_uri, pvc_root, dirs)
    if result.succeeded:
        say(f"Succeeded: {result.message}; outputs in {where or rendered.output_uri}")
    else:
        say(f"Failed ({result.reason}): {result.message}")
    return rendered, result
