{{/* The release's base name, at most 63 characters. */}}
{{- define "imagepipe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "imagepipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The targets this release runs, in a fixed order: the four of split mode,
or "all". The chart fails here on a mode it does not know.
*/}}
{{- define "imagepipe.targets" -}}
{{- if eq .Values.mode "split" -}}
gateway ingest processor status
{{- else if eq .Values.mode "allinone" -}}
all
{{- else -}}
{{- fail (printf "mode %q: want split or allinone" .Values.mode) -}}
{{- end -}}
{{- end -}}

{{/* A target's resources' name: (dict "root" $ "target" "gateway"). */}}
{{- define "imagepipe.componentName" -}}
{{- if eq .target "all" -}}
{{- include "imagepipe.fullname" .root -}}
{{- else -}}
{{- printf "%s-%s" (include "imagepipe.fullname" .root | trunc 52 | trimSuffix "-") .target -}}
{{- end -}}
{{- end -}}

{{/* A target's values: targets.NAME, or allinone for "all". */}}
{{- define "imagepipe.targetValues" -}}
{{- if eq .target "all" -}}
{{- toYaml .root.Values.allinone -}}
{{- else -}}
{{- toYaml (index .root.Values.targets .target) -}}
{{- end -}}
{{- end -}}

{{- define "imagepipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "imagepipe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .target }}
{{- end -}}

{{- define "imagepipe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "imagepipe.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Labels of objects that belong to the release, not to one target. */}}
{{- define "imagepipe.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "imagepipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
"true" when a store is the embedded one: empty (under the data
directory), file:// or sqlite://. Those live on one volume, so only one
process may use them.
*/}}
{{- define "imagepipe.embedded" -}}
{{- $s := .Values.stores -}}
{{- $local := false -}}
{{- range $url := list $s.originals $s.variants $s.queue $s.status -}}
{{- if or (not $url) (hasPrefix "file:" $url) (hasPrefix "sqlite:" $url) -}}
{{- $local = true -}}
{{- end -}}
{{- end -}}
{{- if $local }}true{{ end -}}
{{- end -}}

{{/* The Secret the secret variables come from; empty: none. */}}
{{- define "imagepipe.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if include "imagepipe.secretData" . -}}
{{- include "imagepipe.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The Secret the chart makes from values, key: value (may be empty). */}}
{{- define "imagepipe.secretData" -}}
{{- $s := .Values.secrets -}}
{{- if not $s.existingSecret -}}
{{- range $env, $value := dict "IMAGEPIPE_ADMIN_KEY" $s.adminKey "IMAGEPIPE_URL_SIGNING_KEYS" $s.urlSigningKeys "IMAGEPIPE_WEBHOOKS_SECRETS" $s.webhooksSecrets "AWS_ACCESS_KEY_ID" $s.awsAccessKeyId "AWS_SECRET_ACCESS_KEY" $s.awsSecretAccessKey }}
{{- if $value }}
{{ index $s.keys $env }}: {{ $value | b64enc }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
The queue URL KEDA's aws-sqs-queue trigger reads: keda.queueURL, or the
queue store's: an SQS URL as it is (sqs+https:// without "sqs+"), a
sqs://NAME as the queue's name (the trigger accepts a name when there is
no ambiguity); no query string either way.
*/}}
{{- define "imagepipe.kedaQueueURL" -}}
{{- $k := .Values.targets.processor.keda -}}
{{- if $k.queueURL -}}
{{- $k.queueURL -}}
{{- else -}}
{{- $q := regexReplaceAll "\\?.*$" (.Values.stores.queue | default "") "" -}}
{{- if hasPrefix "sqs+" $q -}}
{{- trimPrefix "sqs+" $q -}}
{{- else if hasPrefix "sqs://" $q -}}
{{- trimPrefix "sqs://" $q -}}
{{- else if hasPrefix "https://" $q -}}
{{- $q -}}
{{- else -}}
{{- fail (printf "targets.processor.keda: KEDA scales the processor on an SQS queue; the queue store is %q (set stores.queue to an SQS queue, or keda.queueURL)" .Values.stores.queue) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Checks that no template can express: every mistake fails the install with
a message naming the value.
*/}}
{{- define "imagepipe.validate" -}}
{{- $targets := include "imagepipe.targets" . -}}
{{- $embedded := include "imagepipe.embedded" . -}}
{{- if and (eq .Values.mode "split") $embedded -}}
{{- fail "mode split: every target must share the stores; set stores.originals and stores.variants (s3://), stores.queue (sqs:// or its https:// URL) and stores.status (dynamodb://). The embedded stores (files and SQLite) work only with mode allinone" -}}
{{- end -}}
{{- if and (eq .Values.mode "allinone") $embedded (gt (int .Values.allinone.replicas) 1) -}}
{{- fail (printf "allinone.replicas %d: the embedded stores (files and SQLite on one volume) allow one replica; set every store to S3, SQS and DynamoDB URLs to run more" (int .Values.allinone.replicas)) -}}
{{- end -}}
{{- $status := .Values.stores.status | default "" -}}
{{- if and $status (not (hasPrefix "sqlite:" $status)) (not .Values.secrets.existingSecret) (not .Values.secrets.urlSigningKeys) -}}
{{- fail "secrets: off the embedded status store every target needs IMAGEPIPE_URL_SIGNING_KEYS; set secrets.existingSecret (a Secret with the key url-signing-keys) or secrets.urlSigningKeys" -}}
{{- end -}}
{{- if and (eq .Values.mode "split") .Values.targets.processor.keda.enabled (not .Values.aws.region) -}}
{{- fail "targets.processor.keda: the aws-sqs-queue trigger needs aws.region" -}}
{{- end -}}
{{- end -}}

{{/*
A target's environment: (dict "root" $ "target" T "values" V). The chart's
settings, then `env`, then the target's `env` (the later wins), sorted by
name; then the secret variables from the Secret.
*/}}
{{- define "imagepipe.env" -}}
{{- $root := .root -}}
{{- $t := .target -}}
{{- $v := .values -}}
{{- $env := dict "IMAGEPIPE_OPS_ADDR" (printf ":%d" (int $root.Values.ports.ops)) "IMAGEPIPE_LOG_LEVEL" $root.Values.logLevel -}}
{{- range $key, $name := dict "originals" "IMAGEPIPE_ORIGINALS" "variants" "IMAGEPIPE_VARIANTS" "queue" "IMAGEPIPE_QUEUE" "status" "IMAGEPIPE_STATUS" "events" "IMAGEPIPE_EVENTS" -}}
{{- with index $root.Values.stores $key }}{{ $_ := set $env $name . }}{{ end -}}
{{- end -}}
{{- with $root.Values.publicURL }}{{ $_ := set $env "IMAGEPIPE_PUBLIC_URL" . }}{{ end -}}
{{- with $root.Values.aws.region }}{{ $_ := set $env "AWS_REGION" . }}{{ end -}}
{{- with $root.Values.aws.endpointURL }}{{ $_ := set $env "AWS_ENDPOINT_URL" . }}{{ end -}}
{{- with $root.Values.tracing.otlpEndpoint -}}
{{- $_ := set $env "OTEL_TRACES_EXPORTER" "otlp" -}}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" . -}}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_PROTOCOL" $root.Values.tracing.protocol -}}
{{- $_ := set $env "OTEL_SERVICE_NAME" (ternary "imagepipe" (printf "imagepipe-%s" $t) (eq $t "all")) -}}
{{- end -}}
{{- if has $t (list "processor" "all") -}}
{{- $_ := set $env "IMAGEPIPE_PROCESSOR_WORKERS" (toString $v.workers) -}}
{{- $_ := set $env "IMAGEPIPE_PROCESSOR_TEMP_DIR" "/tmp" -}}
{{- end -}}
{{- if eq $t "all" -}}
{{- $_ := set $env "IMAGEPIPE_DATA_DIR" $v.dataDir -}}
{{- end -}}
{{- if eq $t "gateway" -}}
{{- range $peer := list "ingest" "status" "processor" -}}
{{- $addr := printf "%s:%d" (include "imagepipe.componentName" (dict "root" $root "target" $peer)) (int $root.Values.ports.grpc) -}}
{{- $_ := set $env (printf "IMAGEPIPE_GATEWAY_%s_ADDR" (upper $peer)) $addr -}}
{{- end -}}
{{- end -}}
{{- $env = merge (deepCopy ($v.env | default dict)) (deepCopy ($root.Values.env | default dict)) $env -}}
{{- range $name, $value := $env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- $secret := include "imagepipe.secretName" $root -}}
{{- if $secret -}}
{{- $s := $root.Values.secrets -}}
{{- $made := include "imagepipe.secretData" $root | fromYaml -}}
{{- range $name, $key := $s.keys -}}
{{- if or $s.existingSecret (hasKey $made $key) }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      {{- if $s.existingSecret }}
      optional: true
      {{- end }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A target's container ports: name and number. */}}
{{- define "imagepipe.ports" -}}
{{- $p := .root.Values.ports -}}
{{- if has .target (list "gateway" "all") }}
http: {{ $p.http }}
{{- end }}
{{- if ne .target "gateway" }}
grpc: {{ $p.grpc }}
{{- end }}
ops: {{ $p.ops }}
{{- end -}}
