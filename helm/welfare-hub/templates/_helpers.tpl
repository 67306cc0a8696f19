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

{{/* A mapping as YAML without its null entries: a value set to null (runAsUser on OpenShift, say) is left out
  rather than rendered as null, whether or not Helm's merge of the values has already dropped it. */}}
{{- define "welfare-hub.withoutNulls" -}}
{{- $out := dict -}}
{{- range $k, $v := . }}
{{- if not (kindIs "invalid" $v) }}{{ $_ := set $out $k $v }}{{ end }}
{{- end }}
{{- toYaml $out -}}
{{- end -}}

{{/* The security context every welfare-hub container runs with (containerSecurityContext). */}}
{{- define "welfare-hub.containerSecurity" -}}
{{- include "welfare-hub.withoutNulls" .Values.containerSecurityContext -}}
{{- end -}}

{{/* The pod security context of every welfare-hub pod (podSecurityContext). */}}
{{- define "welfare-hub.podSecurity" -}}
{{- include "welfare-hub.withoutNulls" .Values.podSecurityContext -}}
{{- end -}}

{{/* Where a pod may run and what it pulls with, the same for the hub's pods and the migration Job's: image pull
  secrets, node selector, tolerations, affinity and topology spread constraints, each only when set. A spread
  constraint without a labelSelector gets the pod's own labels (`labels`); one with a labelSelector is used as
  given. Called with (dict "root" $ "labels" <the pod's selector labels, a map>). */}}
{{- define "welfare-hub.podScheduling" -}}
{{- $v := .root.Values -}}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $spread := list }}
{{- range $v.topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not $c.labelSelector }}{{ $_ := set $c "labelSelector" (dict "matchLabels" $.labels) }}{{ end }}
{{- $spread = append $spread $c }}
{{- end }}
{{- with $spread }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Database URLs, from the existing Secret only: the hub's own, and each source's that is read directly (a
  source answered by its subgraph gets none: the hub holds no credentials for its store). */}}
{{- define "welfare-hub.databaseEnv" -}}
{{- $s := .Values.secrets.databaseUrls -}}
- name: WELFARE_HUB_HUB_URL
  valueFrom: {secretKeyRef: {name: {{ $s.name }}, key: {{ $s.hubKey }}}}
{{- range (include "welfare-hub.sources" . | fromYamlArray) }}
{{- if not .url }}
- name: {{ .storeEnv }}
  valueFrom: {secretKeyRef: {name: {{ $s.name }}, key: {{ get $s .secretKey }}}}
{{- end }}
{{- end }}
{{- end -}}

{{/* The three sources: each one's values key, its subgraph URL (empty: read directly), the hub's variables
  for it and its key in secrets.databaseUrls. One list, so the ConfigMap, the env, the checks and the
  NetworkPolicy cannot disagree about which source is where. Read with `include ... | fromYamlArray`. */}}
{{- define "welfare-hub.sources" -}}
{{- $urls := .Values.hub.subgraphs | default dict -}}
- {key: dwp, title: DWP, url: {{ dig "dwp" "url" "" $urls | quote }}, subgraphEnv: WELFARE_HUB_SUBGRAPH_DWP_URL, storeEnv: WELFARE_HUB_DWP_URL, secretKey: dwpKey}
- {key: hb, title: Housing Benefit, url: {{ dig "hb" "url" "" $urls | quote }}, subgraphEnv: WELFARE_HUB_SUBGRAPH_HB_URL, storeEnv: WELFARE_HUB_HB_URL, secretKey: hbKey}
- {key: socialCare, title: social care, url: {{ dig "socialCare" "url" "" $urls | quote }}, subgraphEnv: WELFARE_HUB_SUBGRAPH_SOCIAL_CARE_URL, storeEnv: WELFARE_HUB_SOCIAL_CARE_URL, secretKey: socialCareKey}
{{- end -}}

{{/* What the hub would refuse at start-up, refused at render instead (with the value to fix); and settings that
  cannot work together. */}}
{{- define "welfare-hub.checks" -}}
{{- $metrics := .Values.metrics -}}
{{- if and $metrics.serviceMonitor.enabled (not $metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled: a ServiceMonitor scrapes the hub's metrics port, and metrics.enabled is false (the hub serves no metrics, and the pods and Service have no metrics port): set metrics.enabled true, or metrics.serviceMonitor.enabled false" }}
{{- end }}
{{- if and $metrics.enabled (eq (int $metrics.port) (int .Values.hub.port)) }}
{{- fail (printf "metrics.port: %d is also hub.port; the metrics are served on a port of their own: choose another (9464 is the default)" (int $metrics.port)) }}
{{- end }}
{{- if and $metrics.serviceMonitor.enabled .Values.networkPolicy.enabled (not .Values.networkPolicy.metricsFrom) }}
{{- fail "networkPolicy.metricsFrom: metrics.serviceMonitor.enabled asks Prometheus to scrape the hub's metrics port, and the NetworkPolicy would block it (it admits no one there): list where Prometheus runs, as NetworkPolicy peers (say [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}])" }}
{{- end }}
{{- $assertionKey := .Values.secrets.assertionKey | default dict -}}
{{- range (include "welfare-hub.sources" . | fromYamlArray) }}
{{- if .url }}
{{- $u := urlParse .url }}
{{- if not (get $assertionKey "name") }}
{{- fail (printf "secrets.assertionKey: hub.subgraphs.%s.url is set (%s), and the hub signs every question to a subgraph with its assertion key: create a Secret holding it (JSON {\"kid\", \"pem\"}) and set secrets.assertionKey.name (and .key)" .key .url) }}
{{- end }}
{{- if and (eq $.Values.hub.environment "production") (eq $u.scheme "http") (not (has $u.hostname (list "127.0.0.1" "::1" "localhost"))) }}
{{- fail (printf "hub.subgraphs.%s.url: %s is plain http to another host; in production the hub reaches a subgraph over https only (it would refuse to start): use the subgraph's https URL" .key .url) }}
{{- end }}
{{- else if not (get $.Values.secrets.databaseUrls .secretKey) }}
{{- fail (printf "secrets.databaseUrls.%s: the %s source is read directly (hub.subgraphs.%s.url is empty), so the hub needs its database URL: name its key in the Secret, or set hub.subgraphs.%s.url" .secretKey .title .key .key) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* One egress rule to an HTTP(S) endpoint the hub is configured with (a JWKS, a subgraph). A NetworkPolicy
  cannot name a host: an address literal in the URL is allowed as itself, a name needs `where` (the addresses
  it resolves to, or the namespace and pod labels of a service in the cluster), else the render fails with
  `message` (printf'd with the URL and its host). The port is the URL's own (443 for https, 80 for http). */}}
{{- define "welfare-hub.egressTo" -}}
{{- $u := urlParse .url }}
{{- $port := ternary 80 443 (eq $u.scheme "http") }}
{{- with regexFind ":[0-9]+$" $u.host }}{{ $port = trimPrefix ":" . | atoi }}{{ end }}
{{- $ip := "" }}
{{- if regexMatch "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$" $u.hostname }}{{ $ip = printf "%s/32" $u.hostname }}{{ end }}
{{- if contains ":" $u.hostname }}{{ $ip = printf "%s/128" $u.hostname }}{{ end }}
{{- $where := .where | default dict }}
{{- $cidrs := get $where "cidrs" | default list }}
{{- $namespace := get $where "namespace" | default "" }}
{{- if not (or $ip $cidrs $namespace) }}
{{- fail (printf .message .url $u.hostname) }}
{{- end }}
# {{ .comment }}: {{ .url }}
- to:
    {{- with $ip }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
    {{- range $cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
    {{- with $namespace }}
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ . }}
      {{- with get $where "podLabels" }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
    {{- end }}
  ports:
    - {protocol: TCP, port: {{ $port }}}
{{- end -}}
