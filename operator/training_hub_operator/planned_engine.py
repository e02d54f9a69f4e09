"""The backend a run's pods will use, resolved at planning time as the pod would resolve it, so that the
plan is made for the engine that runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training_hub.pod.spec import PlannedEngineSpec
from training_hub_operator.api.spec import SINGLE_PROCESS_ALGORITHMS, TrainingRunSpec
from training_hub_operator.api.status import Plan


@dataclass(frozen=True)
class PlannedEngine:
    """The backend the run's pods will use, as the planner resolves it."""

    name: str
    reason: str


def planned_engine(spec: TrainingRunSpec) -> PlannedEngine:
    """The backend ``spec.backend`` resolves to on the GPUs the run asks for, in the runtime image.

    ``auto`` resolves as the pod will (:func:`training_hub.backends.selection.select_backend`) with the
    hardware of ``spec.resources.gpuProduct`` and the packages of the project's runtime image, and with
    the torchrun layout the operator sets (``nproc_per_node`` = GPUs per node), so an engine that refuses
    the run's parameters or layout (instructlab-training and ``max_steps``, unsloth and more than one GPU)
    is never planned for. A CPU run (``gpusPerNode: 0``) resolves as on a machine without CUDA.
    """
    if spec.backend != "auto":
        return PlannedEngine(spec.backend, "spec.backend")
    from training_hub.algorithms.builtin import register_builtin
    from training_hub.backends.selection import RUNTIME_IMAGE_MODULES, select_backend
    from training_hub.errors import TrainingHubError
    from training_hub.hardware import Hardware, planned_hardware

    register_builtin()
    r = spec.resources
    single = spec.algorithm in SINGLE_PROCESS_ALGORITHMS
    # the pod fills the paths from spec.model/data/output; placeholders stand for them here
    params: dict[str, Any] = {"model_path": "model", "data_path": "data", "ckpt_output_dir": "output"}
    params.update(spec.hyperparameters)
    params.update(
        nproc_per_node=1 if single else (r.gpus_per_node or r.max_gpus_per_node),
        nnodes=1 if single else (r.nodes or 1),
    )
    if params["nnodes"] > 1:
        params.setdefault("master_addr", "planned")
    try:
        choice = select_backend(
            spec.algorithm,
            params,
            Hardware(cuda=False) if r.gpus_per_node == 0 else planned_hardware(r.gpu_product),
            installed=lambda module: module in RUNTIME_IMAGE_MODULES,
        )
    except (TrainingHubError, ValueError) as exc:
        return PlannedEngine("auto", f"could not resolve: {exc}")
    return PlannedEngine(choice.name, choice.reason)


def pod_engine(spec: TrainingRunSpec, plan: Plan, image: str) -> PlannedEngineSpec | None:
    """The engine the run's pods must run: the one the plan was made for.

    The plan's own record (``status.plan.inputs.engine``) when it has one, else the same resolution
    (:func:`planned_engine`); None when ``auto`` could not be resolved here (the pod resolves it).

    Args:
        spec: The validated spec.
        plan: The run's plan.
        image: The pods' image (named in the pod's error when the image lacks the engine).
    """
    name = plan.inputs.get("engine") if plan.inputs else None
    reason = str(plan.inputs.get("engineReason", "")) if plan.inputs else ""
    if not name:
        engine = planned_engine(spec)
        name, reason = engine.name, engine.reason
    if name == "auto":
        return None
    return PlannedEngineSpec(name=str(name), reason=reason, image=image)
