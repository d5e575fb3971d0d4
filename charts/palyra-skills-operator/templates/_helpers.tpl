{{- define "palyra.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "palyra.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- include "palyra.name" . -}}
{{- end -}}
{{- end -}}

{{- define "palyra.labels" -}}
app.kubernetes.io/name: {{ include "palyra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "palyra.selectorLabels" -}}
app.kubernetes.io/name: {{ include "palyra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "palyra.serviceAccountName" -}}
{{- default (include "palyra.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
