{{/*
The roles this chart deploys, in order. Each is a Deployment running `smsfleet <role>`.
*/}}
{{- define "smsfleet.roles" -}}
api worker receipts monitor
{{- end }}

{{/* The chart name (app.kubernetes.io/name). */}}
{{- define "smsfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name prefix of every resource. Truncated to 53 characters so that
"<fullname>-receipts" still fits the 63 characters of a DNS label.
*/}}
{{- define "smsfleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 53 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 53 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 53 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of one role's resources: dict "root" $ "role" "api". */}}
{{- define "smsfleet.componentName" -}}
{{- printf "%s-%s" (include "smsfleet.fullname" .root) .role }}
{{- end }}

{{/* helm.sh/chart */}}
{{- define "smsfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The image tag (or the chart's appVersion). */}}
{{- define "smsfleet.version" -}}
{{- default .Chart.AppVersion .Values.image.tag | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The standard labels of every resource of the release. */}}
{{- define "smsfleet.labels" -}}
helm.sh/chart: {{ include "smsfleet.chart" . }}
app.kubernetes.io/name: {{ include "smsfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "smsfleet.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: smsfleet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The annotations block of an object: commonAnnotations merged with the object's
own (dict "root" $ "extra" map; the object's win). Empty when both are, so the
caller writes {{- with include ... }}{{ . | nindent 2 }}{{- end }}.
*/}}
{{- define "smsfleet.metaAnnotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.root.Values.commonAnnotations | default dict) }}
{{- with $all -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The labels of one role's resources: dict "root" $ "role" "api". */}}
{{- define "smsfleet.componentLabels" -}}
{{ include "smsfleet.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{/* The selector labels of one role: dict "root" $ "role" "api". */}}
{{- define "smsfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smsfleet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{/* The ServiceAccount every role runs as. */}}
{{- define "smsfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smsfleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, or repository:tag. */}}
{{- define "smsfleet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the SMSFLEET_* variables. */}}
{{- define "smsfleet.configMapName" -}}
{{- include "smsfleet.fullname" . }}
{{- end }}

{{/* The ConfigMap holding the configuration file. */}}
{{- define "smsfleet.fileConfigMapName" -}}
{{- printf "%s-file" (include "smsfleet.fullname" .) }}
{{- end }}

{{/* The Secret the roles load: existingSecret, or the one this chart renders. */}}
{{- define "smsfleet.secretName" -}}
{{- default (include "smsfleet.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Where the configuration file is mounted. */}}
{{- define "smsfleet.configFilePath" -}}
/etc/smsfleet/config.yaml
{{- end }}

{{/*
"true" when a role's replica count belongs to an autoscaler (HPA or KEDA), so the
Deployment leaves spec.replicas out: dict "root" $ "role" "worker".
*/}}
{{- define "smsfleet.autoscaled" -}}
{{- $v := index .root.Values .role }}
{{- if and (eq .role "worker") $v.keda.enabled }}true
{{- else if and (hasKey $v "autoscaling") $v.autoscaling.enabled }}true
{{- end }}
{{- end }}

{{/*
Checks the values that the schema cannot: rendering fails with a message naming
the value to set.
*/}}
{{- define "smsfleet.validate" -}}
{{- include "smsfleet.validateSubcharts" . }}
{{- include "smsfleet.validateRedis" . }}
{{- if and .Values.receipts.enabled (empty (include "smsfleet.kafkaBrokers" .)) }}
{{- fail "config.kafka.brokers is required while receipts.enabled is true: the receipts role lands every delivery receipt in Kafka (SMSFLEET_KAFKA_BROKERS), e.g. --set 'config.kafka.brokers={kafka-0.kafka:9092}'; or set kafka.enabled=true for the bundled kafka subchart, or receipts.enabled=false" }}
{{- end }}
{{- $s := .Values.secrets }}
{{- if and $s.existingSecret (or $s.applications $s.redisPassword $s.redisSentinelPassword $s.monitorPassword $s.env) }}
{{- fail "secrets.applications, secrets.redisPassword, secrets.redisSentinelPassword, secrets.monitorPassword and secrets.env are not used with secrets.existingSecret: put those keys in the existing Secret instead, and leave them empty here" }}
{{- end }}
{{- $sm := .Values.metrics.serviceMonitor }}
{{- if and $s.existingSecret $sm.enabled (include "smsfleet.hasPrometheusOperator" .) .Values.monitor.enabled (eq .Values.config.monitor.auth "basic") (empty $sm.monitorBasicAuth.secretName) }}
{{- fail "metrics.serviceMonitor.monitorBasicAuth.secretName is required with secrets.existingSecret while the monitor uses basic auth: the monitor's /metrics needs the monitor's user and password, so name a Secret holding them (keys metrics.serviceMonitor.monitorBasicAuth.usernameKey and passwordKey); or set metrics.serviceMonitor.enabled=false" }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- if and .Values.monitor.enabled (eq .Values.config.monitor.auth "basic") (empty .Values.secrets.monitorPassword) }}
{{- fail "secrets.monitorPassword is required while monitor.enabled is true and config.monitor.auth is basic (SMSFLEET_MONITOR_PASSWORD); or use secrets.existingSecret" }}
{{- end }}
{{- $fileApps := list }}
{{- if kindIs "string" .Values.config.file }}
{{- $fileApps = regexFindAll "(?m)^applications:\\s*\\S" .Values.config.file -1 }}
{{- else if kindIs "map" .Values.config.file }}
{{- $fileApps = dig "applications" list .Values.config.file }}
{{- end }}
{{- if and .Values.api.enabled (empty .Values.secrets.applications) (empty $fileApps) }}
{{- fail "secrets.applications is required while api.enabled is true: the API accepts no one without an application (SMSFLEET_APPLICATIONS, CODE:SERVER_TOKEN[:DEVICE_TOKEN[:open]]); or list them in config.file.applications, or use secrets.existingSecret" }}
{{- end }}
{{- end }}
{{- end }}


{{/*
The PromQL label matchers of this release's series: the prometheusRule.selector
value, or the release namespace and the jobs of its Services.
*/}}
{{- define "smsfleet.promSelector" -}}
{{- if .Values.metrics.prometheusRule.selector }}
{{- .Values.metrics.prometheusRule.selector }}
{{- else }}
{{- printf "namespace=%q, job=~%q" .Release.Namespace (printf "%s-(api|worker|receipts|monitor)" (include "smsfleet.fullname" .)) }}
{{- end }}
{{- end }}

{{/* true when the Prometheus Operator API is served. */}}
{{- define "smsfleet.hasPrometheusOperator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/*
Checks config.redis per mode (SMSFLEET_REDIS_MODE), as the fleet does at start
(internal/config/redis.go), so a wrong combination fails at render, naming the
value to set.
*/}}
{{- define "smsfleet.validateRedis" -}}
{{- $r := fromYaml (include "smsfleet.redis" .) }}
{{- if eq $r.mode "standalone" }}
{{- if gt (len $r.addrs) 1 }}
{{- fail (printf "config.redis.addrs has %d addresses but config.redis.mode is standalone, which takes one (config.redis.addr): set config.redis.mode=sentinel or cluster for several" (len $r.addrs)) }}
{{- end }}
{{- if and (empty $r.addr) (empty $r.addrs) }}
{{- fail "config.redis.addr is required: the host:port of the fleet's Redis (SMSFLEET_REDIS_ADDR), e.g. --set config.redis.addr=redis-master:6379; or set config.redis.mode=sentinel or cluster with config.redis.addrs" }}
{{- end }}
{{- else }}
{{- if empty $r.addrs }}
{{- fail (printf "config.redis.addrs is required when config.redis.mode is %s: the %s (SMSFLEET_REDIS_ADDRS), e.g. --set 'config.redis.addrs={redis-node-0.redis:%s,redis-node-1.redis:%s}'" $r.mode (ternary "sentinels' host:port" "cluster's seed nodes, host:port" (eq $r.mode "sentinel")) (ternary "26379" "6379" (eq $r.mode "sentinel")) (ternary "26379" "6379" (eq $r.mode "sentinel"))) }}
{{- end }}
{{- end }}
{{- if eq $r.mode "sentinel" }}
{{- if empty $r.masterName }}
{{- fail "config.redis.masterName is required when config.redis.mode is sentinel: the name the sentinels monitor the primary under (SMSFLEET_REDIS_MASTER_NAME), e.g. --set config.redis.masterName=mymaster" }}
{{- end }}
{{- else if or $r.masterName $r.sentinelUsername .Values.secrets.redisSentinelPassword }}
{{- fail (printf "config.redis.masterName, config.redis.sentinelUsername and secrets.redisSentinelPassword are used only when config.redis.mode is sentinel (it is %s): leave them empty or set config.redis.mode=sentinel" $r.mode) }}
{{- end }}
{{- if and (eq $r.mode "cluster") (ne (int64 $r.db) 0) }}
{{- fail "config.redis.db must be 0 when config.redis.mode is cluster: Redis Cluster has only database 0" }}
{{- end }}
{{- end }}
