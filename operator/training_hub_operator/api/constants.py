"""Names of the TrainingRun API: group, version, kind, labels and annotations the operator owns."""

from __future__ import annotations

GROUP = "traininghub.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TrainingRun"
PLURAL = "trainingruns"
SINGULAR = "trainingrun"
SHORT_NAMES = ["tr"]
CATEGORIES = ["training-hub"]
CRD_NAME = f"{PLURAL}.{GROUP}"

#: Label on every child object: the name of the TrainingRun it belongs to.
LABEL_RUN = f"{GROUP}/run"
#: Label on every child object: the component (``config``, ``workload``, ...).
LABEL_COMPONENT = f"{GROUP}/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "training-hub-operator"

#: Annotation on the workload: the spec it was launched from (JSON), to refuse later changes of fields
#: that cannot change once a job runs, even after an operator restart.
ANNOTATION_LAUNCHED_SPEC = f"{GROUP}/launched-spec"
#: Annotation on the workload: the run's generation it was launched from.
ANNOTATION_LAUNCHED_GENERATION = f"{GROUP}/launched-generation"
#: Annotation on the workload: set while the operator suspended it because the user asked (spec.suspend).
ANNOTATION_USER_SUSPENDED = f"{GROUP}/user-suspended"

#: Prefix of kopf's own annotations (progress and diff-base storage) on TrainingRuns.
KOPF_PREFIX = GROUP
FINALIZER = f"{GROUP}/finalizer"

#: Environment variable names the launch owns; a user setting one of them is refused.
RESERVED_ENV_NAMES: frozenset[str] = frozenset(
    {"WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK"}
)
RESERVED_ENV_PREFIXES: tuple[str, ...] = ("PET_", "MASTER_", "TORCHELASTIC_")


def is_reserved_env(name: str) -> bool:
    """Whether an environment variable name belongs to the launch (rendezvous and rank)."""
    return name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES)
