{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "training-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart unless the release name already holds the chart name. */}}
{{- define "training-hub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "training-hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object, without the component. */}}
{{- define "training-hub.commonLabels" -}}
helm.sh/chart: {{ include "training-hub.chart" . }}
app.kubernetes.io/name: {{ include "training-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: training-hub
{{- end -}}

{{/* Labels of the operator's objects. */}}
{{- define "training-hub.labels" -}}
{{ include "training-hub.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels of the training pods' ServiceAccount and Role. */}}
{{- define "training-hub.runtimeLabels" -}}
{{ include "training-hub.commonLabels" . }}
app.kubernetes.io/component: runtime
{{- end -}}

{{/* Labels that select the operator pods (never change them: Deployment selectors are immutable). */}}
{{- define "training-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "training-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "training-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "training-hub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Operator image reference. */}}
{{- define "training-hub.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Runtime image reference (what the operator puts into training pods). */}}
{{- define "training-hub.runtimeImage" -}}
{{- printf "%s:%s" .Values.runtime.image.repository (default .Chart.AppVersion .Values.runtime.image.tag) -}}
{{- end -}}

{{/* true when the operator watches a fixed list of namespaces. */}}
{{- define "training-hub.namespaced" -}}
{{- if .Values.watchNamespaces -}}true{{- end -}}
{{- end -}}

{{/* Namespaces that get the runtime ServiceAccount and Role, as a JSON list. */}}
{{- define "training-hub.runtimeNamespaces" -}}
{{- $ns := .Values.runtime.namespaces -}}
{{- if not $ns -}}{{- $ns = .Values.watchNamespaces -}}{{- end -}}
{{- if not $ns -}}{{- $ns = list .Release.Namespace -}}{{- end -}}
{{- $ns | uniq | toJson -}}
{{- end -}}

{{/* Name of the kopf peering object(s). */}}
{{- define "training-hub.peeringName" -}}
{{- default (include "training-hub.fullname" .) .Values.peering.name -}}
{{- end -}}
