{{/*
Names and labels.
*/}}
{{- define "steward.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "steward.fullname" -}}
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

{{- define "steward.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "steward.selectorLabels" -}}
app.kubernetes.io/name: {{ include "steward.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "steward.labels" -}}
helm.sh/chart: {{ include "steward.chart" . }}
{{ include "steward.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: steward
{{- end }}

{{/* Resource name of a component: "<fullname>" for server, "<fullname>-<component>" otherwise (trimmed to 63). */}}
{{- define "steward.componentName" -}}
{{- $full := include "steward.fullname" .root -}}
{{- if eq .component "server" -}}
{{- $full -}}
{{- else -}}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- define "steward.httpServiceName" -}}
{{- include "steward.fullname" . }}
{{- end }}

{{- define "steward.grpcServiceName" -}}
{{- printf "%s-grpc" (include "steward.fullname" . | trunc 58 | trimSuffix "-") }}
{{- end }}

{{- define "steward.configMapName" -}}
{{- printf "%s-config" (include "steward.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "steward.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "steward.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "steward.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* True ("true") when PostgreSQL is configured; SQLite otherwise. */}}
{{- define "steward.postgres" -}}
{{- if .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* Whether the pre-install/pre-upgrade migration Job runs. */}}
{{- define "steward.migrationJob" -}}
{{- if and (include "steward.postgres" .) .Values.migrations.job.enabled }}true{{ end }}
{{- end }}

{{/* The core's gRPC URL for façades. */}}
{{- define "steward.coreUrl" -}}
{{- printf "%s://%s.%s.svc:%d" (ternary "https" "http" (not (empty .Values.tls.existingSecret))) (include "steward.grpcServiceName" .) .Release.Namespace (int .Values.service.grpc.port) }}
{{- end }}

{{- define "steward.terminationGracePeriodSeconds" -}}
{{- $floor := add .Values.preStopSleepSeconds .Values.settings.shutdownGrace }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $floor 10 }}
{{- else }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $floor) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than preStopSleepSeconds + settings.shutdownGrace (%v), or Kubernetes kills Steward before it has drained" .Values.terminationGracePeriodSeconds $floor) }}
{{- end }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
Refuses combinations the schema cannot express with a readable message.
*/}}
{{- define "steward.validate" -}}
{{- if not (include "steward.postgres" .) }}
{{- if eq .Values.mode "split" }}
{{- fail "mode: split needs PostgreSQL (set database.existingSecret): the core and façade Deployments cannot share a SQLite file" }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount: %v needs PostgreSQL (set database.existingSecret): SQLite lives on one pod's volume and cannot be shared by replicas" .Values.replicaCount) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled needs PostgreSQL (set database.existingSecret): SQLite cannot be shared by replicas" }}
{{- end }}
{{- else if .Values.persistence.enabled }}
{{- fail "persistence.enabled is for SQLite only; with database.existingSecret (PostgreSQL) Steward keeps no local state" }}
{{- end }}
{{- if and (eq .Values.mode "split") (not .Values.facadeToken.existingSecret) }}
{{- fail "mode: split needs facadeToken.existingSecret: the core's sign-in, consent and registration services answer only a façade presenting that token" }}
{{- end }}
{{- if and .Values.tls.requireClientCert (not .Values.tls.existingSecret) }}
{{- fail "tls.requireClientCert needs tls.existingSecret (its ca.crt issues the accepted client certificates)" }}
{{- end }}
{{- if and (eq .Values.mode "split") .Values.tls.requireClientCert (not .Values.tls.facadeClientSecret) }}
{{- fail "mode: split with tls.requireClientCert needs tls.facadeClientSecret: the façade's client certificate for the core" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.settings.issuer) }}
{{- fail "ingress.enabled: set settings.issuer to the public URL (e.g. https://steward.example.com) so tokens and discovery name it" }}
{{- end }}
{{- end }}

{{/*
A Deployment's per-component settings: the top level for "server", the
core/facade block otherwise.
*/}}
{{- define "steward.componentValues" -}}
{{- if eq .component "server" -}}
{{- dict "replicaCount" .root.Values.replicaCount "resources" .root.Values.resources "autoscaling" .root.Values.autoscaling "podDisruptionBudget" .root.Values.podDisruptionBudget | toJson -}}
{{- else -}}
{{- index .root.Values .component | toJson -}}
{{- end -}}
{{- end }}

{{/* The components this release deploys. */}}
{{- define "steward.components" -}}
{{- if eq .Values.mode "split" }}["core","facade"]{{ else }}["server"]{{ end }}
{{- end }}
