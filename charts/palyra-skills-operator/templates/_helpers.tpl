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

{{- define "palyra.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "palyra.webhookSecret" -}}
{{ include "palyra.fullname" . }}-webhook-tls
{{- end -}}

{{- define "palyra.webhookService" -}}
{{ include "palyra.fullname" . }}-webhook
{{- end -}}
