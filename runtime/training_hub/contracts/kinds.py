"""Kinds and API names: the TrainingRun API and every kind the operator and the local executor handle.

The one place that spells an API group, version, kind or plural; everything else imports them. A kind is
a :class:`ResourceKind` (a value type: launchers render objects of these kinds without importing the API
client that sends them).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceKind:
    """A Kubernetes resource type.

    Attributes:
        api_version: ``v1``, ``kubeflow.org/v1``...
        kind: ``ConfigMap``, ``PyTorchJob``...
        plural: The resource name in URLs (``configmaps``, ``pytorchjobs``).
        namespaced: Whether objects live in a namespace.
    """

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.split("/")[-1]

    @property
    def crd_name(self) -> str | None:
        """``<plural>.<group>`` for kinds from a group (candidates for a CRD), None for core kinds."""
        return f"{self.plural}.{self.group}" if self.group else None

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path of a collection or object."""
        base = f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


# The TrainingRun API (this project's CRD).
GROUP = "traininghub.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TrainingRun"
PLURAL = "trainingruns"
SINGULAR = "trainingrun"
SHORT_NAMES = ["tr"]
CATEGORIES = ["training-hub"]
CRD_NAME = f"{PLURAL}.{GROUP}"
TRAININGRUN = ResourceKind(API_VERSION, KIND, PLURAL)

# Kubernetes' own kinds.
CONFIGMAP = ResourceKind("v1", "ConfigMap", "configmaps")
EVENT = ResourceKind("v1", "Event", "events")
POD = ResourceKind("v1", "Pod", "pods")
SERVICE = ResourceKind("v1", "Service", "services")
JOB = ResourceKind("batch/v1", "Job", "jobs")
CRD = ResourceKind(
    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False
)

# Kubeflow's kinds: Training Operator v1 and Trainer v2.
PYTORCHJOB = ResourceKind("kubeflow.org/v1", "PyTorchJob", "pytorchjobs")
TRAINJOB = ResourceKind("trainer.kubeflow.org/v1alpha1", "TrainJob", "trainjobs")
CLUSTER_TRAINING_RUNTIME = ResourceKind(
    "trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime", "clustertrainingruntimes", namespaced=False
)
