{{/* Chart name, at most 63 characters (a DNS label). */}}
{{- define "lifeline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release-chart, or the release name when it already contains the chart name. 52
characters at most, so that "-headless" and the StatefulSet's pod suffixes still fit.
*/}}
{{- define "lifeline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lifeline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "lifeline.labels" -}}
helm.sh/chart: {{ include "lifeline.chart" . }}
{{ include "lifeline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the pods: never change them on an installed release. */}}
{{- define "lifeline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lifeline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lifeline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lifeline.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lifeline.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret with the SASL credentials: the user's, or the chart's. */}}
{{- define "lifeline.saslSecretName" -}}
{{- .Values.sasl.existingSecret | default (printf "%s-sasl" (include "lifeline.fullname" .)) }}
{{- end }}

{{/* KEDA's name for the SASL mechanism. */}}
{{- define "lifeline.kedaSasl" -}}
{{- $m := upper .Values.sasl.mechanism }}
{{- if eq $m "PLAIN" }}plaintext
{{- else if eq $m "SCRAM-SHA-256" }}scram_sha256
{{- else if eq $m "SCRAM-SHA-512" }}scram_sha512
{{- else }}{{ fail (printf "sasl.mechanism %q: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" .Values.sasl.mechanism) }}
{{- end }}
{{- end }}

{{/*
lifeline.yaml: .Values.config plus the keys the chart owns. The pod checksum is taken over this
text, so a config change rolls the pods while a rule-pack change (another ConfigMap) does not.
*/}}
{{- define "lifeline.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "http" "0.0.0.0:8080" }}
{{- $_ := set $cfg "state_dir" "/var/lib/lifeline" }}
{{- $_ := unset $cfg "client_id" }}
{{- if .Values.rules.pack }}
{{- $_ := set $cfg "rules" "/etc/lifeline-rules/rules.yaml" }}
{{- else }}
{{- $_ := unset $cfg "rules" }}
{{- end }}
{{- if .Values.sasl.mechanism }}
{{- $_ := set $cfg "sasl" (dict "mechanism" .Values.sasl.mechanism) }}
{{- else }}
{{- $_ := unset $cfg "sasl" }}
{{- end }}
{{- $tls := dict "enabled" .Values.tls.enabled }}
{{- if .Values.tls.enabled }}
{{- with .Values.tls.serverName }}{{ $_ := set $tls "server_name" . }}{{ end }}
{{- if .Values.tls.insecureSkipVerify }}{{ $_ := set $tls "insecure_skip_verify" true }}{{ end }}
{{- if .Values.tls.existingSecret }}
{{- $_ := set $tls "ca_file" (printf "/etc/lifeline-tls/%s" .Values.tls.caKey) }}
{{- if .Values.tls.clientCert }}
{{- $_ := set $tls "cert_file" (printf "/etc/lifeline-tls/%s" .Values.tls.certKey) }}
{{- $_ := set $tls "key_file" (printf "/etc/lifeline-tls/%s" .Values.tls.keyKey) }}
{{- end }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "tls" $tls }}
{{- if .Values.ingest.enabled }}
{{- $in := default (dict) (index $cfg "ingest") }}
{{- $h := default (dict) (index $in "http") }}
{{- $_ := set $h "addr" (printf "0.0.0.0:%d" (.Values.ingest.port | int64)) }}
{{- $_ := set $in "http" $h }}
{{- $_ := set $cfg "ingest" $in }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
