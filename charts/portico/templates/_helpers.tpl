{{/* Chart name, possibly overridden. */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Base name of every object: the release name when it already says portico, else release-portico. */}}
{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains (include "portico.name" .) .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "portico.name" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portico.operator.fullname" -}}{{ include "portico.fullname" . }}-operator{{- end -}}
{{- define "portico.proxy.fullname" -}}{{ include "portico.fullname" . }}-proxy{{- end -}}

{{/* Labels on every object. */}}
{{- define "portico.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (operator or proxy): pass (list . "proxy"). */}}
{{- define "portico.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "portico.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The same selector as key=value pairs, for the operator's --proxy-pod-labels. */}}
{{- define "portico.proxy.selectorFlag" -}}
app.kubernetes.io/name={{ include "portico.name" . }},app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=proxy
{{- end -}}

{{/* The operator's pods as key=value pairs, for --operator-pod-labels (issue 15: the IDE probe). */}}
{{- define "portico.operator.selectorFlag" -}}
app.kubernetes.io/name={{ include "portico.name" . }},app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=operator
{{- end -}}

{{/* An image reference: repository:tag (tag defaults to the chart's appVersion) or repository@digest. */}}
{{- define "portico.image" -}}
{{- if .digest -}}
{{ .repository }}@{{ .digest }}
{{- else -}}
{{ .repository }}:{{ .tag | default .appVersion }}
{{- end -}}
{{- end -}}

{{/* Pod and container security settings shared by both components: non-root, read-only root. */}}
{{- define "portico.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "portico.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The Secret holding the proxy's session keys. */}}
{{- define "portico.sessionKeysSecret" -}}
{{- .Values.proxy.auth.sessionKeys.existingSecret | default (printf "%s-session-keys" (include "portico.proxy.fullname" .)) -}}
{{- end -}}

{{/* The Secret holding the trusted-headers gateway secret; empty when none is given. */}}
{{- define "portico.gatewaySecret" -}}
{{- $s := .Values.proxy.auth.trustedHeaderSecret -}}
{{- if $s.existingSecret }}{{ $s.existingSecret }}{{ else if $s.value }}{{ printf "%s-gateway-secret" (include "portico.proxy.fullname" .) }}{{ end -}}
{{- end -}}

{{/* The Secret holding the OIDC client secret. */}}
{{- define "portico.oidcSecret" -}}
{{- .Values.proxy.auth.oidc.existingSecret | default (printf "%s-oidc" (include "portico.proxy.fullname" .)) -}}
{{- end -}}

{{/*
The ingress rule of a metrics/health port: pods of the monitoring namespace only (optionally only
those with the given labels). No namespace: no rule at all, so no pod reaches the port (NetworkPolicy
rules are unions; the kubelet's probes come from the node, which CNIs admit).
Usage: include "portico.metricsIngress" (list .Values.networkPolicy.metricsFrom 8081)
*/}}
{{- define "portico.metricsIngress" -}}
{{- $m := index . 0 -}}
{{- $port := index . 1 -}}
{{- if $m.namespace }}
- ports:
    - { port: {{ $port }}, protocol: TCP }
  from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $m.namespace }}
      {{- with $m.labels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
{{- end }}
{{- end }}
{{/* The session-keys hook's objects (ServiceAccount, Role, RoleBinding, Job). */}}
{{- define "portico.sessionKeysHook" -}}
{{ include "portico.fullname" . }}-session-keys
{{- end -}}

{{/* Whether the session-keys hook makes the keys: oidc, and neither a value nor a Secret of the user's. */}}
{{- define "portico.sessionKeysHook.enabled" -}}
{{- $k := .Values.proxy.auth.sessionKeys -}}
{{- if and (eq .Values.proxy.auth.mode "oidc") (not $k.existingSecret) (not $k.jwks) }}true{{ end -}}
{{- end -}}
