{{/* Names and labels, namespaced under welfare-hub. */}}
{{- define "welfare-hub.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "welfare-hub.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "welfare-hub.labels" -}}
app.kubernetes.io/name: {{ include "welfare-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "welfare-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "welfare-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: hub
{{- end -}}

{{- define "welfare-hub.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "welfare-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "welfare-hub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The pod security context every welfare-hub container runs with. */}}
{{- define "welfare-hub.containerSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Database URLs, from the existing Secret only. */}}
{{- define "welfare-hub.databaseEnv" -}}
{{- $s := .Values.secrets.databaseUrls -}}
- name: WELFARE_HUB_HUB_URL
  valueFrom: {secretKeyRef: {name: {{ $s.name }}, key: {{ $s.hubKey }}}}
- name: WELFARE_HUB_DWP_URL
  valueFrom: {secretKeyRef: {name: {{ $s.name }}, key: {{ $s.dwpKey }}}}
- name: WELFARE_HUB_HB_URL
  valueFrom: {secretKeyRef: {name: {{ $s.name }}, key: {{ $s.hbKey }}}}
- name: WELFARE_HUB_SOCIAL_CARE_URL
  valueFrom: {secretKeyRef: {name: {{ $s.name }}, key: {{ $s.socialCareKey }}}}
{{- end -}}
