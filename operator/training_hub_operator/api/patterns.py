"""The string patterns of ``TrainingRun.spec`` fields, as the CRD schema carries them (Kubernetes' own
formats; :mod:`~training_hub_operator.api.validation` words each one for users), and the field types that
carry them where several fields mean the same thing."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"
#: A DNS-1123 label (apimachinery's ``IsDNS1123Label``), unanchored so that other patterns can compose it.
DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL_PATTERN = rf"^{DNS_LABEL}$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"

#: A Kubernetes quantity (``80Gi``, ``500m``, ``4``): the type of every memory and CPU amount of the spec.
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN)]
#: The name of an object in the cluster that a field refers to (ServiceAccount, LocalQueue, ...).
ObjectName = Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN)]
