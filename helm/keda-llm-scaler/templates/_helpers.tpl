{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "keda-llm-scaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "keda-llm-scaler.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "keda-llm-scaler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "keda-llm-scaler.labels" -}}
helm.sh/chart: {{ include "keda-llm-scaler.chart" . }}
{{ include "keda-llm-scaler.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keda
{{- end }}

{{/* Labels that select the scaler's pods (never change them on upgrade: selectors are immutable). */}}
{{- define "keda-llm-scaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keda-llm-scaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "keda-llm-scaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keda-llm-scaler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image reference: repository@digest or repository:tag (tag defaults to appVersion). */}}
{{- define "keda-llm-scaler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The address KEDA dials: <service>.<namespace>.svc:<grpcPort>. */}}
{{- define "keda-llm-scaler.scalerAddress" -}}
{{- printf "%s.%s.svc:%d" (include "keda-llm-scaler.fullname" .) .Release.Namespace (int .Values.grpcPort) }}
{{- end }}

{{- define "keda-llm-scaler.tlsDir" -}}/etc/keda-llm-scaler/tls{{- end }}
{{- define "keda-llm-scaler.clientCaDir" -}}/etc/keda-llm-scaler/client-ca{{- end }}

{{/* The Secret holding the client CA (mTLS): its own, or the server certificate's Secret. */}}
{{- define "keda-llm-scaler.clientCaSecret" -}}
{{- default .Values.tls.secretName .Values.tls.clientCa.secretName }}
{{- end }}

{{/* True when the client CA needs its own volume. */}}
{{- define "keda-llm-scaler.separateClientCa" -}}
{{- if and .Values.tls.enabled .Values.tls.clientCa.enabled (ne (include "keda-llm-scaler.clientCaSecret" .) .Values.tls.secretName) }}true{{- end }}
{{- end }}

{{- define "keda-llm-scaler.triggerAuthName" -}}
{{- default (printf "%s-tls" (include "keda-llm-scaler.fullname" .)) .Values.tls.triggerAuthentication.name }}
{{- end }}

{{/*
The scaler's configuration file. Ports and TLS paths come from the chart's values so that the
Service, probes and Secret mounts always agree with what the process serves.
*/}}
{{- define "keda-llm-scaler.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if kindIs "invalid" $config.defaultTarget }}
{{- $_ := unset $config "defaultTarget" }}
{{- end }}
{{- if empty $config.scrape }}
{{- $_ := unset $config "scrape" }}
{{- end }}
{{- $_ := set $config "grpc" (dict "host" "0.0.0.0" "port" (int .Values.grpcPort)) }}
{{- $_ := set $config "http" (dict "host" "0.0.0.0" "port" (int .Values.httpPort) "ui" (ne (toString .Values.statusPage.enabled) "false")) }}
{{- if .Values.tls.enabled }}
{{- $tls := dict "cert" (printf "%s/%s" (include "keda-llm-scaler.tlsDir" .) .Values.tls.certKey) "key" (printf "%s/%s" (include "keda-llm-scaler.tlsDir" .) .Values.tls.keyKey) }}
{{- if .Values.tls.clientCa.enabled }}
{{- $caDir := ternary (include "keda-llm-scaler.clientCaDir" .) (include "keda-llm-scaler.tlsDir" .) (eq (include "keda-llm-scaler.separateClientCa" .) "true") }}
{{- $_ := set $tls "clientCa" (printf "%s/%s" $caDir .Values.tls.clientCa.key) }}
{{- end }}
{{- $_ := set $config "tls" $tls }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
The namespaces whose EndpointSlices some pool (or its activation) discovers through the Kubernetes
API, as a JSON list (sorted, without duplicates): each gets a Role and a RoleBinding.
*/}}
{{- define "keda-llm-scaler.kubernetesDiscoveryNamespaces" -}}
{{- $seen := dict }}
{{- range .Values.config.pools }}
{{- range (list .discovery ((.activation | default dict).discovery)) }}
{{- $kubernetes := ((. | default dict).kubernetes | default dict) }}
{{- if $kubernetes.namespace }}
{{- $_ := set $seen $kubernetes.namespace true }}
{{- end }}
{{- end }}
{{- end }}
{{- keys $seen | sortAlpha | toJson }}
{{- end }}
