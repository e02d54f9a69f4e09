"""Where the planner gets a model's ``config.json``: inline in the spec, a ConfigMap, the Hugging Face Hub
id of an ``hf://`` model, or a short planning pod that reads it from the model's PVC (:func:`planning_job`,
:func:`config_from_planning_pod`). The operator never reads model weights.
"""

from __future__ import annotations

import json
from typing import Any

from training_hub.contracts.kinds import JOB
from training_hub.errors import InvalidInputError
from training_hub.estimator import load_model_config
from training_hub.pod.spec import PVC_MOUNT_ROOT
from training_hub.storage.uri import kind_of, location_in_pod, parse_location, pvc_claim
from training_hub_operator.api.spec import TrainingRunSpec
from training_hub_operator.planning import ModelConfig, PlanningError
from training_hub_operator.settings import OperatorSettings

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

#: ``ModelConfig.origin`` (and ``status.plan.inputs.modelConfig``) of a config read by a planning pod.
PLANNING_POD_ORIGIN = "planning pod (config.json on the PVC)"


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
    from training_hub_operator.launchers.training_pod import container_security_context

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
