{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "canton-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated to 63 characters; if the release name already
contains the chart name it is used as is.
*/}}
{{- define "canton-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "canton-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
*/}}
{{- define "canton-operator.labels" -}}
helm.sh/chart: {{ include "canton-operator.chart" . }}
{{ include "canton-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: canton-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades (never add version-like labels here).
*/}}
{{- define "canton-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canton-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The operator's own ServiceAccount name.
*/}}
{{- define "canton-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "canton-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image reference: a digest wins over a tag; the tag defaults to appVersion.
*/}}
{{- define "canton-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
KMS values, checked again at render time so that `--skip-schema-validation` cannot deploy an operator
that would refuse to provision validators (see values.schema.json for the primary check).
*/}}
{{- define "canton-operator.validateKms" -}}
{{- if .Values.kms.enabled }}
{{- if not (trim (toString (.Values.kms.serviceAccount | default ""))) }}
{{- fail "kms.serviceAccount is required when kms.enabled is true (CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT: the externally managed ServiceAccount name)" }}
{{- end }}
{{- if not (trim (toString (.Values.kms.value | default ""))) }}
{{- fail "kms.value is required when kms.enabled is true (CANTON_TOPOLOGY_KMS_VALUE, e.g. '{ type = \"aws\", region = \"eu-west-1\", audit-logging = true }')" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
crds.enabled and crds.keep as "true"/"false", true when unset: `helm upgrade --reuse-values` from a chart
without these values (0.1.0) replaces this chart's defaults by the old release's values, so .Values.crds may
be absent; the CRDs must then still be upgraded, and kept.
*/}}
{{- define "canton-operator.crds.enabled" -}}
{{- $crds := .Values.crds | default dict -}}
{{- if hasKey $crds "enabled" }}{{ $crds.enabled }}{{ else }}true{{ end -}}
{{- end }}

{{- define "canton-operator.crds.keep" -}}
{{- $crds := .Values.crds | default dict -}}
{{- if hasKey $crds "keep" }}{{ $crds.keep }}{{ else }}true{{ end -}}
{{- end }}
