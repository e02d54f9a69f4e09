{{/*
Command-line arguments of training-hub-operator (operator/training_hub_operator/main.py). With peering, the
container starts through /bin/sh to give each replica its own kopf priority (see deployment.yaml).
*/}}
{{- define "training-hub.operatorArgs" -}}
{{- if include "training-hub.namespaced" . }}
{{- range .Values.watchNamespaces | uniq }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
- --liveness-host=0.0.0.0
- --liveness-port={{ .Values.health.port }}
{{- if .Values.metrics.enabled }}
- --metrics-host=0.0.0.0
- --metrics-port={{ .Values.metrics.port }}
{{- end }}
{{- if .Values.peering.enabled }}
- --peering={{ include "training-hub.peeringName" . }}
{{- end }}
- --log-format={{ .Values.operator.logFormat }}
{{- if eq .Values.operator.logLevel "debug" }}
- --verbose
{{- end }}
{{- with .Values.operator.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Operator settings read from the environment (training_hub_operator.settings.OperatorSettings.from_env). */}}
{{- define "training-hub.operatorEnv" -}}
- name: TRAINING_HUB_DEFAULT_IMAGE
  value: {{ include "training-hub.runtimeImage" . | quote }}
- name: TRAINING_HUB_DEFAULT_SERVICE_ACCOUNT
  value: {{ .Values.runtime.serviceAccount.name | quote }}
- name: TRAINING_HUB_STALL_TIMEOUT
  value: {{ .Values.operator.stallTimeout | quote }}
- name: TRAINING_HUB_RUNTIME_METRICS_PORT
  value: {{ .Values.runtime.metrics.port | quote }}
- name: TRAINING_HUB_RUNTIME_PROGRESS
  value: {{ ternary "auto" "off" .Values.runtime.progress.enabled | quote }}
- name: TRAINING_HUB_RUNTIME_PROGRESS_INTERVAL
  value: {{ .Values.runtime.progress.intervalSeconds | quote }}
{{- with .Values.operator.defaultGpuMemory }}
- name: TRAINING_HUB_DEFAULT_GPU_MEMORY
  value: {{ . | quote }}
{{- end }}
- name: TRAINING_HUB_ALLOW_CONFIG_FETCH
  value: {{ .Values.operator.allowConfigFetch | quote }}
- name: TRAINING_HUB_PLANNING_PODS
  value: {{ .Values.operator.planningPods | quote }}
- name: TRAINING_HUB_POD_FS_GROUP
  value: {{ if kindIs "invalid" .Values.operator.podFsGroup }}""{{ else }}{{ .Values.operator.podFsGroup | int | quote }}{{ end }}
- name: TRAINING_HUB_RESYNC_SECONDS
  value: {{ .Values.operator.resyncSeconds | quote }}
- name: TRAINING_HUB_FULL_RESYNC_SECONDS
  value: {{ .Values.operator.fullResyncSeconds | quote }}
- name: TRAINING_HUB_PLANNING_BUDGET_SECONDS
  value: {{ .Values.operator.planningBudgetSeconds | quote }}
{{- end -}}
