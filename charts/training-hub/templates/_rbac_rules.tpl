{{/*
The operator's namespaced permissions: exactly the verbs and resources it uses. In cluster mode they go into a
ClusterRole; in namespaced mode (watchNamespaces set) into a Role in each watched namespace.
*/}}
{{- define "training-hub.operatorRules" -}}
# TrainingRuns: watch them, add/remove kopf's finalizer and annotations, write status.
- apiGroups: ["traininghub.io"]
  resources: ["trainingruns"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["traininghub.io"]
  resources: ["trainingruns/status"]
  verbs: ["get", "patch"]
# A model's config.json in the ConfigMap a run names (spec.model.configMapRef), for the planner: read one
# by name. (The run spec travels in the pod template: the operator creates no ConfigMaps.)
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
# Events on TrainingRuns (kopf's and the operator's own).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
# Observe the training pods (rank failures, exit codes, planning results).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
{{- if .Values.rbac.launchers.native }}
# Native launcher: a headless Service for the rendezvous.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
{{- if or .Values.rbac.launchers.native .Values.operator.planningPods }}
# Batch Jobs: {{ if .Values.rbac.launchers.native }}one per node for the native launcher{{ end }}{{ if and .Values.rbac.launchers.native .Values.operator.planningPods }}, and {{ end }}{{ if .Values.operator.planningPods }}the short planning Job that reads a model's config.json from its PVC{{ end }}.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
{{- if .Values.rbac.launchers.pytorchjob }}
# Kubeflow Training Operator v1.
- apiGroups: ["kubeflow.org"]
  resources: ["pytorchjobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
{{- if .Values.rbac.launchers.trainjob }}
# Kubeflow Trainer v2.
- apiGroups: ["trainer.kubeflow.org"]
  resources: ["trainjobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
{{- if .Values.rbac.kueue }}
# Kueue: read the Workload of a run to report admission (queued, admitted, evicted).
- apiGroups: ["kueue.x-k8s.io"]
  resources: ["workloads"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- if and .Values.peering.enabled (include "training-hub.namespaced" .) }}
# kopf peering in namespaced mode: KopfPeering keep-alives.
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end -}}

{{/* Cluster-scoped permissions, needed in both modes. */}}
{{- define "training-hub.clusterRules" -}}
# Which launchers are served (PyTorchJob, TrainJob) and kopf's resource discovery: read-only.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- if include "training-hub.namespaced" . }}
# kopf checks that the watched namespaces exist: read-only.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- else if .Values.peering.enabled }}
# kopf peering in cluster mode: ClusterKopfPeering keep-alives.
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end -}}
