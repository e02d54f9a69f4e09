"""Names of the TrainingRun API: labels and annotations the operator owns (group, version and kind come from
:mod:`training_hub.contracts.kinds`)."""

from __future__ import annotations

from training_hub.contracts import pod_env
from training_hub.contracts.kinds import (  # noqa: F401  (the API's names, defined once in the library)
    API_VERSION,
    CATEGORIES,
    CRD_NAME,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
)

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
RESERVED_ENV_NAMES = pod_env.RESERVED_NAMES
RESERVED_ENV_PREFIXES = pod_env.RESERVED_PREFIXES
is_reserved_env = pod_env.is_reserved
