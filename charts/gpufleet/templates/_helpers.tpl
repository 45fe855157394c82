{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "gpufleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, unless it already holds the chart name. */}}
{{- define "gpufleet.fullname" -}}
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
Name of the metrics Service: a DNS label (63 characters at most), so the full name is
cut to leave room for "-metrics". Also the job label of the ServiceMonitor's series.
*/}}
{{- define "gpufleet.metricsServiceName" -}}
{{- printf "%s-metrics" (include "gpufleet.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* Labels of the metrics Service that its ServiceMonitor selects (none Argo CD rewrites). */}}
{{- define "gpufleet.metricsServiceSelector" -}}
app.kubernetes.io/name: {{ include "gpufleet.name" . }}
app.kubernetes.io/component: operator
gpufleet.io/metrics-service: {{ include "gpufleet.metricsServiceName" . }}
{{- end }}

{{- define "gpufleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpufleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "gpufleet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gpufleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gpufleet
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gpufleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gpufleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gpufleet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Namespaces the operator watches, as a JSON list: empty in Cluster scope,
else watch.namespaces or the release namespace.
*/}}
{{- define "gpufleet.watchNamespaces" -}}
{{- if eq .Values.watch.scope "Cluster" }}
{{- list | toJson }}
{{- else if .Values.watch.namespaces }}
{{- .Values.watch.namespaces | toJson }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/* Mount point of the price catalog ConfigMap. */}}
{{- define "gpufleet.pricesPath" -}}
/etc/gpufleet/prices/gpu-prices.json
{{- end }}

{{/* Where the Prometheus auth Secret and CA ConfigMap are mounted. */}}
{{- define "gpufleet.prometheusAuthDir" -}}
/etc/gpufleet/prometheus-auth
{{- end }}
{{- define "gpufleet.prometheusCaDir" -}}
/etc/gpufleet/prometheus-ca
{{- end }}

{{/* Cross-value rules JSON Schema cannot express (numbers compared with each other). */}}
{{- define "gpufleet.validate" -}}
{{- $op := .Values.operator }}
{{- if lt (float64 $op.rateWindowSeconds) (mulf 2 $op.scrapeIntervalSeconds) }}
{{- fail (printf "operator.rateWindowSeconds (%v) must be at least 2 x operator.scrapeIntervalSeconds (%v): rate() needs two samples" $op.rateWindowSeconds $op.scrapeIntervalSeconds) }}
{{- end }}
{{- if lt (float64 $op.staleAfterSeconds) (float64 $op.scrapeIntervalSeconds) }}
{{- fail (printf "operator.staleAfterSeconds (%v) must be at least operator.scrapeIntervalSeconds (%v)" $op.staleAfterSeconds $op.scrapeIntervalSeconds) }}
{{- end }}
{{- $auth := $op.prometheusAuth }}
{{- if and (or $auth.secret.bearerTokenKey $auth.secret.passwordKey $auth.secret.caKey) (not $auth.secret.name) }}
{{- fail "operator.prometheusAuth.secret.name is required when one of its keys (bearerTokenKey, passwordKey, caKey) is set" }}
{{- end }}
{{- if and $auth.username (not $auth.secret.passwordKey) }}
{{- fail "operator.prometheusAuth.secret.passwordKey is required with operator.prometheusAuth.username (basic auth)" }}
{{- end }}
{{- if and $auth.secret.passwordKey (not $auth.username) }}
{{- fail "operator.prometheusAuth.username is required with operator.prometheusAuth.secret.passwordKey (basic auth)" }}
{{- end }}
{{- if and $auth.secret.caKey $auth.caConfigMap.name }}
{{- fail "operator.prometheusAuth: set secret.caKey or caConfigMap.name, not both" }}
{{- end }}
{{- if and (or $auth.bearerTokenFile $auth.secret.bearerTokenKey) $auth.username }}
{{- fail "operator.prometheusAuth: a bearer token and basic auth (username) exclude each other" }}
{{- end }}
{{- range $key, $_ := include "gpufleet.selectorLabels" . | fromYaml }}
{{- if hasKey $.Values.podLabels $key }}
{{- fail (printf "podLabels: %s is a label of the Deployment's selector, set by the chart (nameOverride changes app.kubernetes.io/name)" $key) }}
{{- end }}
{{- end }}
{{- $chartEnv := list }}
{{- range include "gpufleet.env" . | fromYamlArray }}
{{- $chartEnv = append $chartEnv .name }}
{{- end }}
{{- range $op.extraEnv }}
{{- if has .name $chartEnv }}
{{- fail (printf "operator.extraEnv: %s is set by the chart; set it through its value (docs/configuration.md), not extraEnv" .name) }}
{{- end }}
{{- end }}
{{- $reserved := list "gpu-prices" "tmp" "prometheus-auth" "prometheus-ca" }}
{{- range $op.extraVolumes }}
{{- if has .name $reserved }}
{{- fail (printf "operator.extraVolumes: the name %q is the chart's own volume; choose another" .name) }}
{{- end }}
{{- end }}
{{- if eq (int .Values.ports.health) (int .Values.ports.metrics) }}
{{- fail (printf "ports.health and ports.metrics are both %v: the liveness endpoint and /metrics are two servers and need two ports" .Values.ports.health) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled" }}
{{- end }}
{{- end }}

{{/*
The container environment the chart sets (extraEnv comes after it; its names must differ:
duplicate names break server-side apply and strategic-merge upgrades).
*/}}
{{- define "gpufleet.env" -}}
{{- $op := .Values.operator }}
{{- $namespaces := include "gpufleet.watchNamespaces" . | fromJsonArray }}
{{- $auth := .Values.operator.prometheusAuth }}
{{- $authDir := include "gpufleet.prometheusAuthDir" . }}
{{- $caDir := include "gpufleet.prometheusCaDir" . }}
- name: GPUFLEET_PROMETHEUS_URL
  value: {{ $op.prometheusUrl | quote }}
- name: GPUFLEET_TICK_SECONDS
  value: {{ $op.tickSeconds | quote }}
- name: GPUFLEET_RATE_WINDOW_SECONDS
  value: {{ $op.rateWindowSeconds | quote }}
- name: GPUFLEET_SCRAPE_INTERVAL_SECONDS
  value: {{ $op.scrapeIntervalSeconds | quote }}
- name: GPUFLEET_STALE_AFTER_SECONDS
  value: {{ $op.staleAfterSeconds | quote }}
- name: GPUFLEET_QUERY_TIMEOUT_SECONDS
  value: {{ $op.queryTimeoutSeconds | quote }}
- name: GPUFLEET_GPU_PRICES
  value: {{ include "gpufleet.pricesPath" . }}
- name: GPUFLEET_LABEL_NAMESPACE
  value: {{ $op.metricLabels.namespace | quote }}
- name: GPUFLEET_LABEL_MODELDEPLOYMENT
  value: {{ $op.metricLabels.modeldeployment | quote }}
- name: GPUFLEET_LABEL_POD
  value: {{ $op.metricLabels.pod | quote }}
# The same list as the --namespace flags (empty: cluster-wide), for
# code that reads OperatorSettings rather than kopf's own settings.
- name: GPUFLEET_NAMESPACES
  value: {{ join "," $namespaces | quote }}
- name: GPUFLEET_AUTOSCALING
  value: {{ $op.autoscaling | quote }}
- name: GPUFLEET_GPU_NODE_LABEL
  value: {{ $op.gpuNodeLabel | quote }}
- name: GPUFLEET_PEERING_PRIORITY
  value: {{ $op.peeringPriority | quote }}
{{- /* Unset (`helm upgrade --reuse-values` from a release without it): the operator's own default. */}}
{{- with $op.peeringName }}
- name: GPUFLEET_PEERING_NAME
  value: {{ . | quote }}
{{- end }}
# Where the operator's own pods run: a NetworkPolicy it builds for a
# ModelDeployment lets them reach the model's HTTP port (model configuration).
- name: GPUFLEET_OPERATOR_NAMESPACE
  value: {{ .Release.Namespace | quote }}
{{- $selector := include "gpufleet.selectorLabels" . | fromYaml }}
{{- $pairs := list }}
{{- range $key, $value := $selector }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
- name: GPUFLEET_OPERATOR_POD_LABELS
  value: {{ join "," $pairs | quote }}
# kopf's peering identity: the pod's name (else user@host, which needs a
# passwd entry for the UID).
- name: POD_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if $auth.bearerTokenFile }}
- name: GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE
  value: {{ $auth.bearerTokenFile | quote }}
{{- else if $auth.secret.bearerTokenKey }}
- name: GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE
  value: {{ printf "%s/%s" $authDir $auth.secret.bearerTokenKey | quote }}
{{- end }}
{{- if $auth.username }}
- name: GPUFLEET_PROMETHEUS_USERNAME
  value: {{ $auth.username | quote }}
- name: GPUFLEET_PROMETHEUS_PASSWORD_FILE
  value: {{ printf "%s/%s" $authDir $auth.secret.passwordKey | quote }}
{{- end }}
{{- if $auth.secret.caKey }}
- name: GPUFLEET_PROMETHEUS_CA_FILE
  value: {{ printf "%s/%s" $authDir $auth.secret.caKey | quote }}
{{- else if $auth.caConfigMap.name }}
- name: GPUFLEET_PROMETHEUS_CA_FILE
  value: {{ printf "%s/%s" $caDir $auth.caConfigMap.key | quote }}
{{- end }}
{{- if $auth.insecureSkipVerify }}
- name: GPUFLEET_PROMETHEUS_INSECURE_SKIP_VERIFY
  value: "true"
{{- end }}
{{- if $auth.headers }}
- name: GPUFLEET_PROMETHEUS_HEADERS
  value: {{ toJson $auth.headers | quote }}
{{- end }}
{{- end }}
