"""Planning: from a spec (and the model's ``config.json``) to the run's shape, nodes x GPUs per node.

Pure functions over :mod:`training_hub.estimator`. The operator never reads model weights: it plans from a
config it can reach (inline in the spec, a ConfigMap, the Hugging Face Hub when the run allows it, or a
short planning pod that reads ``config.json`` from the model's PVC; see
:func:`planning_job` / :func:`config_from_planning_pod`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from training_hub.contracts.kinds import JOB
from training_hub.errors import InvalidInputError
from training_hub.estimator import (
    ESTIMATOR_VERSION,
    EstimateInputs,
    PlanningBudgetExceeded,
    gpu_memory_for_product,
    load_model_config,
    parse_gpu_memory,
)
from training_hub.estimator import plan as estimator_plan
from training_hub.pod.spec import PVC_MOUNT_ROOT, PlannedEngineSpec
from training_hub.storage.uri import kind_of, location_in_pod, parse_location, pvc_claim
from training_hub_operator.api.spec import SINGLE_PROCESS_ALGORITHMS, TrainingRunSpec
from training_hub_operator.api.status import GpuEstimate, Plan
from training_hub_operator.settings import OperatorSettings

GIB = 1024**3

#: Backends whose memory behaviour the estimator models (others use the estimator's own path).
_MODELLED_ENGINES = ("native", "peft", "instructlab-training", "mini-trainer", "unsloth")


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


#: Keys of config.json the estimator needs; a planning pod reports only these (termination messages are
#: limited to 4096 bytes).
CONFIG_KEYS: tuple[str, ...] = (
    "model_type",
    "architectures",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "tie_word_embeddings",
    "max_position_embeddings",
    "num_local_experts",
    "num_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "n_routed_experts",
    "n_shared_experts",
    "first_k_dense_replace",
    "moe_layer_freq",
    "decoder_sparse_step",
    "mlp_only_layers",
    "text_config",
    "torch_dtype",
    "hidden_act",
    "attention_bias",
    "mlp_bias",
)


class PlanningError(ValueError):
    """No plan can be made; ``str()`` says what to set. ``reason`` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


#: ``ModelConfig.origin`` (and ``status.plan.inputs.modelConfig``) of a config read by a planning pod.
PLANNING_POD_ORIGIN = "planning pod (config.json on the PVC)"


@dataclass(frozen=True)
class ModelConfig:
    """A model config and where it came from (for the plan's inputs)."""

    config: dict[str, Any]
    origin: str


def human_bytes(n: int) -> str:
    """``61.2Gi`` style."""
    return f"{n / GIB:.1f}Gi"


def needs_model_config(spec: TrainingRunSpec) -> bool:
    """Whether planning needs the model's config (resources not fixed, and GPUs involved)."""
    r = spec.resources
    if r.fixed:
        return False
    return r.gpus_per_node != 0


def gpu_memory_bytes(spec: TrainingRunSpec, settings: OperatorSettings) -> int:
    """Memory of one GPU from ``gpuMemory``, ``gpuProduct`` or the operator default.

    Raises:
        PlanningError: When none is given or the value is unknown.
    """
    r = spec.resources
    try:
        if r.gpu_memory:
            return parse_gpu_memory(r.gpu_memory)
        if r.gpu_product:
            return gpu_memory_for_product(r.gpu_product)
        if settings.default_gpu_memory:
            return parse_gpu_memory(settings.default_gpu_memory)
    except InvalidInputError as exc:
        raise PlanningError("InvalidGPU", str(exc)) from None
    raise PlanningError(
        "GPUMemoryUnknown",
        "cannot plan GPUs without knowing their size: set spec.resources.gpuMemory (e.g. 80Gi) or "
        "spec.resources.gpuProduct (e.g. NVIDIA-A100-SXM4-80GB), or fix spec.resources.nodes and "
        "spec.resources.gpusPerNode",
    )


def model_config_hint(spec: TrainingRunSpec) -> str:
    """What a user can set so the planner gets the model's config."""
    options = ["spec.model.config (the config.json contents)", "spec.model.configMapRef"]
    if kind_of(spec.model.uri) == "hf":
        options.append("spec.model.allowConfigFetch: true")
    options.append("or fix spec.resources.nodes and spec.resources.gpusPerNode")
    return ", ".join(options)


def make_plan(
    spec: TrainingRunSpec,
    hyperparameters: dict[str, Any],
    model: ModelConfig | None,
    settings: OperatorSettings,
) -> Plan:
    """The run's shape.

    Fixed resources are honoured as given (with an estimate when the config is known). Otherwise the
    estimator picks the fewest GPUs on which the expected per-GPU peak fits.

    Args:
        spec: The validated spec.
        hyperparameters: The algorithm's full hyperparameters (defaults included).
        model: The model's config, if reachable.
        settings: Operator settings (default GPU memory).

    Returns:
        The plan (status form).

    Raises:
        PlanningError: When the config is needed and missing, the GPU size is unknown, or nothing fits.
    """
    r = spec.resources
    if r.gpus_per_node == 0:
        nodes = r.nodes or 1
        return Plan(
            nodes=nodes,
            gpus_per_node=0,
            total_gpus=0,
            source="fixed" if r.nodes is not None else "estimated",
            message=f"CPU run: {nodes} node(s) without GPUs (spec.resources.gpusPerNode is 0)",
        )
    if r.fixed and model is None:
        assert r.nodes is not None and r.gpus_per_node is not None
        return Plan(
            nodes=r.nodes,
            gpus_per_node=r.gpus_per_node,
            total_gpus=r.nodes * r.gpus_per_node,
            source="fixed",
            message="spec.resources fixes nodes and gpusPerNode; no estimate (no model config given)",
        )
    if model is None:
        raise PlanningError(
            "ModelConfigUnavailable",
            f"spec.resources does not fix nodes and gpusPerNode, so the operator must plan them from the "
            f"model's config.json, which it cannot reach for {spec.model.uri}: set {model_config_hint(spec)}",
        )
    gpu_mem = gpu_memory_bytes(spec, settings) if not r.fixed else _gpu_memory_or_none(spec, settings)
    engine = planned_engine(spec)
    modelled = engine.name if engine.name in _MODELLED_ENGINES else None
    try:
        inputs = EstimateInputs.from_training_params(
            spec.algorithm, hyperparameters, model.config, engine=modelled
        )
    except (InvalidInputError, ValueError) as exc:
        raise PlanningError("EstimateFailed", f"cannot estimate memory: {exc}") from None
    from training_hub.hardware import planned_hardware

    if hyperparameters.get("bf16") is None and not planned_hardware(r.gpu_product).bf16:
        inputs = inputs.model_copy(update={"dtype": "fp32"})  # the engines train in fp32 without native bf16
    input_summary = {
        "modelConfig": model.origin,
        "modelType": str(model.config.get("model_type", "")),
        "method": inputs.training_method,
        "tokensPerGpu": inputs.tokens_per_gpu(),
        "dtype": inputs.dtype,
        "engine": engine.name,
        "engineReason": engine.reason,
        "activationCheckpointing": inputs.activation_checkpointing,
    }
    if modelled is not None:
        from training_hub.estimator.engines import engine_profile

        input_summary["engineAssumptions"] = engine_profile(modelled).assumptions()
    try:
        if r.fixed and gpu_mem is None:
            from training_hub.estimator import estimate_from_inputs

            assert r.nodes is not None and r.gpus_per_node is not None
            est = estimate_from_inputs(inputs, r.nodes * r.gpus_per_node, gpus_per_node=r.gpus_per_node)
            return Plan(
                nodes=r.nodes,
                gpus_per_node=r.gpus_per_node,
                total_gpus=r.nodes * r.gpus_per_node,
                source="fixed",
                per_gpu=_gpu_estimate(est.low, est.expected, est.high),
                inputs=input_summary,
                estimator_version=ESTIMATOR_VERSION,
                message="spec.resources fixes nodes and gpusPerNode; the estimate is informative",
            )
        assert gpu_mem is not None
        single = spec.algorithm in SINGLE_PROCESS_ALGORITHMS  # one pod with one GPU at most
        result = estimator_plan(
            inputs,
            gpu_mem,
            max_gpus_per_node=1 if single else r.max_gpus_per_node,
            nodes=r.nodes,
            gpus_per_node=r.gpus_per_node,
            max_nodes=1 if single else r.max_nodes,
            budget_seconds=settings.planning_budget_seconds or None,
        )
    except PlanningBudgetExceeded as exc:
        raise PlanningError(
            "PlanningTimeout",
            f"{exc}: the operator stopped planning this run (its budget is --planning-budget-seconds, "
            "TRAINING_HUB_PLANNING_BUDGET_SECONDS); fix spec.resources (nodes and gpusPerNode, or lower "
            "maxNodes / maxGpusPerNode) or check spec.model.config for sizes far beyond a real model",
        ) from None
    except InvalidInputError as exc:
        raise PlanningError("EstimateFailed", f"cannot plan: {exc}") from None
    if not result.fits and not r.fixed:
        hints = "; ".join(result.suggestions)
        raise PlanningError(
            "DoesNotFit",
            f"{result.explanation}"
            + (f" Suggestions: {hints}" if hints else "")
            + " (or raise spec.resources.maxNodes / maxGpusPerNode)",
        )
    return Plan(
        nodes=result.nodes,
        gpus_per_node=result.gpus_per_node,
        total_gpus=result.total_gpus,
        source="fixed" if r.fixed else "estimated",
        gpu_memory_bytes=result.gpu_memory_bytes,
        per_gpu=_gpu_estimate(result.per_gpu_low, result.per_gpu_expected, result.per_gpu_high),
        inputs=input_summary,
        estimator_version=result.estimator_version,
        message=result.explanation,
    )


def _gpu_estimate(low: int, expected: int, high: int) -> GpuEstimate:
    """``status.plan.perGpu``: the estimator's per-GPU bytes (low, expected, high), expected also readable."""
    return GpuEstimate(
        low_bytes=low, expected_bytes=expected, high_bytes=high, expected=human_bytes(expected)
    )


def _gpu_memory_or_none(spec: TrainingRunSpec, settings: OperatorSettings) -> int | None:
    try:
        return gpu_memory_bytes(spec, settings)
    except PlanningError:
        return None


def config_from_inline(spec: TrainingRunSpec) -> ModelConfig | None:
    """The inline ``spec.model.config``, validated by the estimator's loader."""
    if spec.model.config is None:
        return None
    try:
        return ModelConfig(load_model_config(spec.model.config), "inline spec.model.config")
    except InvalidInputError as exc:
        raise PlanningError("InvalidModelConfig", f"spec.model.config: {exc}") from None


def config_from_configmap(spec: TrainingRunSpec, configmap: dict[str, Any] | None) -> ModelConfig | None:
    """The config held in the ConfigMap ``spec.model.configMapRef`` names (already fetched by the caller).

    Raises:
        PlanningError: If the ConfigMap or key is missing or not a model config.
    """
    ref = spec.model.config_map_ref
    if ref is None:
        return None
    where = f"ConfigMap {ref.name} key {ref.key}"
    if configmap is None:
        raise PlanningError("ModelConfigMissing", f"{where} (spec.model.configMapRef) does not exist")
    text = (configmap.get("data") or {}).get(ref.key)
    if text is None:
        raise PlanningError(
            "ModelConfigMissing", f"{where} (spec.model.configMapRef): the key does not exist"
        )
    try:
        return ModelConfig(load_model_config(json.loads(text)), where)
    except (ValueError, InvalidInputError) as exc:
        raise PlanningError("InvalidModelConfig", f"{where}: not a model config.json ({exc})") from None


def hub_model_id(uri: str) -> str | None:
    """``org/model`` of an ``hf://`` location, else None."""
    return parse_location(uri, ("hf",)).root if kind_of(uri) == "hf" else None


def reduce_config(config: dict[str, Any]) -> dict[str, Any]:
    """Only the keys the estimator needs (keeps a planning pod's report under 4 KB)."""
    return {k: v for k, v in config.items() if k in CONFIG_KEYS}


# A planning pod: reads config.json from the model's volume and prints the needed keys as its termination
# message. Standard library only, so any runtime image runs it.
PLANNER_SCRIPT = (
    "import json,sys,os\n"
    "p=sys.argv[1]\n"
    "p=os.path.join(p,'config.json') if os.path.isdir(p) else p\n"
    "keys=set(sys.argv[2].split(','))\n"
    "try:\n"
    "    c=json.load(open(p))\n"
    "except Exception as e:\n"
    "    open('/dev/termination-log','w').write(json.dumps({'error':f'{p}: {e}'})[:4000]); sys.exit(3)\n"
    "out=json.dumps({'config':{k:v for k,v in c.items() if k in keys}},separators=(',',':'))\n"
    "open('/dev/termination-log','w').write(out[:4096]); print(out)\n"
)


def pvc_model_path(uri: str) -> str | None:
    """The in-pod path of a ``pvc://`` model, else None."""
    return location_in_pod(uri) if pvc_claim(uri) else None


def config_from_planning_pod(pod: dict[str, Any]) -> ModelConfig | None:
    """The config a finished planning pod reported, None while it runs.

    Raises:
        PlanningError: If the pod failed or reported an error.
    """
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if not term:
            continue
        message = term.get("message") or ""
        try:
            data = json.loads(message)
        except ValueError:
            data = {"error": message or f"exit code {term.get('exitCode')}"}
        if term.get("exitCode") == 0 and isinstance(data.get("config"), dict):
            try:
                return ModelConfig(load_model_config(data["config"]), PLANNING_POD_ORIGIN)
            except InvalidInputError as exc:
                raise PlanningError("InvalidModelConfig", f"config.json on the PVC: {exc}") from None
        raise PlanningError(
            "PlanningPodFailed", f"the planning pod could not read config.json: {data.get('error')}"
        )
    if ((pod.get("status") or {}).get("phase")) == "Failed":
        raise PlanningError("PlanningPodFailed", "the planning pod failed before reading config.json")
    return None


def planning_job(
    *,
    name: str,
    namespace: str,
    owner: dict[str, Any],
    labels: dict[str, str],
    spec: TrainingRunSpec,
    settings: OperatorSettings,
) -> dict[str, Any]:
    """A batch Job whose single pod reads the model's ``config.json`` from its PVC.

    The pod mounts only the model's claim (read-only), runs the runtime image with :data:`PLANNER_SCRIPT`
    (standard library only) and reports the estimator's keys as its termination message.
    """
    from training_hub_operator.launchers.common import container_security_context

    path = pvc_model_path(spec.model.uri)
    if path is None:
        raise ValueError("a planning pod needs a pvc:// model")
    claim = pvc_claim(spec.model.uri)
    rt = spec.runtime
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "planner",
                "image": rt.image or settings.default_image,
                "command": ["python3", "-c", PLANNER_SCRIPT, path, ",".join(CONFIG_KEYS)],
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "256Mi"},
                },
                "volumeMounts": [
                    {"name": "model", "mountPath": f"{PVC_MOUNT_ROOT}/{claim}", "readOnly": True}
                ],
                "securityContext": container_security_context(),
                "terminationMessagePolicy": "File",
            }
        ],
        "volumes": [{"name": "model", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}],
    }
    if rt.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s.name} for s in rt.image_pull_secrets]
    if rt.service_account_name:
        pod["serviceAccountName"] = rt.service_account_name
    if rt.node_selector:
        pod["nodeSelector"] = dict(rt.node_selector)
    if rt.tolerations:
        pod["tolerations"] = [dict(t) for t in rt.tolerations]
    return {
        "apiVersion": JOB.api_version,
        "kind": JOB.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": 600,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
