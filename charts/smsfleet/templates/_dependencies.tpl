{{/*
Wiring to the optional bitnami subcharts (Chart.yaml dependencies, off by
default). While redis.enabled / kafka.enabled, the fleet is pointed at the
Services those charts create, so nobody has to spell their names; otherwise
config.redis / config.kafka (your own Redis and Kafka) are used unchanged.
*/}}

{{/*
A bitnami chart's full name, as its common.names.fullname computes it:
fullnameOverride, else <release> when the release name holds the chart
name, else <release>-<nameOverride or chart>. dict "root" $ "chart" "redis".
*/}}
{{- define "smsfleet.subchartFullname" -}}
{{- $v := index .root.Values .chart | default dict }}
{{- if $v.fullnameOverride }}
{{- $v.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .chart $v.nameOverride }}
{{- if contains $name .root.Release.Name }}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .root.Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The Redis the fleet uses, as YAML (read it with fromYaml): mode, addr, addrs,
masterName, db, tls, tlsInsecure, username, sentinelUsername. With the redis
subchart: its primary's Service <fullname>-master:6379 (architecture
standalone or replication), or, with redis.sentinel.enabled, its sentinels on
the Service <fullname>:26379 watching redis.sentinel.masterSet.
*/}}
{{- define "smsfleet.redis" -}}
{{- $c := .Values.config.redis }}
{{- if .Values.redis.enabled }}
{{- $full := include "smsfleet.subchartFullname" (dict "root" . "chart" "redis") }}
{{- $sentinel := dig "sentinel" "enabled" false .Values.redis }}
{{- $port := dig "master" "service" "ports" "redis" 6379 .Values.redis }}
mode: {{ ternary "sentinel" "standalone" $sentinel }}
{{- if $sentinel }}
addr: ""
addrs: [{{ printf "%s:%v" $full (dig "sentinel" "service" "ports" "sentinel" 26379 .Values.redis) | quote }}]
masterName: {{ dig "sentinel" "masterSet" "mymaster" .Values.redis | quote }}
{{- else }}
addr: {{ printf "%s-master:%v" $full $port | quote }}
addrs: []
masterName: ""
{{- end }}
db: 0
tls: {{ dig "tls" "enabled" false .Values.redis }}
tlsInsecure: {{ $c.tlsInsecure }}
username: ""
sentinelUsername: ""
{{- else }}
{{- toYaml (pick $c "mode" "addr" "addrs" "masterName" "db" "tls" "tlsInsecure" "username" "sentinelUsername") }}
{{- end }}
{{- end }}

{{/*
The Secret and key holding the redis subchart's password: redis.auth.existingSecret
(key redis.auth.existingSecretPasswordKey), else the chart's own Secret
<fullname> (key redis-password). Empty while the subchart is off or has auth off.
*/}}
{{- define "smsfleet.redisPasswordRef" -}}
{{- if and .Values.redis.enabled (dig "auth" "enabled" true .Values.redis) }}
{{- $secret := dig "auth" "existingSecret" "" .Values.redis | default (include "smsfleet.subchartFullname" (dict "root" . "chart" "redis")) }}
name: {{ $secret }}
key: {{ dig "auth" "existingSecretPasswordKey" "" .Values.redis | default "redis-password" }}
{{- end }}
{{- end }}

{{/*
The Kafka brokers the fleet uses, comma-separated: the kafka subchart's
bootstrap Service <fullname>:<kafka.service.ports.client, 9092>, or
config.kafka.brokers.
*/}}
{{- define "smsfleet.kafkaBrokers" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s:%v" (include "smsfleet.subchartFullname" (dict "root" . "chart" "kafka")) (dig "service" "ports" "client" 9092 .Values.kafka) }}
{{- else }}
{{- join "," .Values.config.kafka.brokers }}
{{- end }}
{{- end }}

{{/*
Environment every role gets from the subcharts' Secrets: the redis subchart's
password as SMSFLEET_REDIS_PASSWORD (and SMSFLEET_REDIS_SENTINEL_PASSWORD: its
sentinels take the same one). A list of EnvVar, as YAML; empty otherwise.
*/}}
{{- define "smsfleet.subchartEnv" -}}
{{- with fromYaml (include "smsfleet.redisPasswordRef" .) }}
- name: SMSFLEET_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .name | quote }}, key: {{ .key | quote }}}
{{- if dig "sentinel" "enabled" false $.Values.redis }}
- name: SMSFLEET_REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .name | quote }}, key: {{ .key | quote }}}
{{- end }}
{{- end }}
{{- end }}

{{/*
Checks the subchart switches against the external settings, naming the value
to change: one Redis and one Kafka, not both.
*/}}
{{- define "smsfleet.validateSubcharts" -}}
{{- $r := .Values.config.redis }}
{{- if .Values.redis.enabled }}
{{- if or $r.addr $r.addrs $r.masterName (ne $r.mode "standalone") }}
{{- fail "config.redis.addr, addrs, masterName and mode must be left at their defaults while redis.enabled is true: the fleet then uses the redis subchart (<release>-redis-master, or its sentinels with redis.sentinel.enabled); set redis.enabled=false to use your own Redis" }}
{{- end }}
{{- if or .Values.secrets.redisPassword .Values.secrets.redisSentinelPassword }}
{{- fail "secrets.redisPassword and secrets.redisSentinelPassword must be empty while redis.enabled is true: the password comes from the redis subchart's Secret (redis.auth.existingSecret, or <release>-redis)" }}
{{- end }}
{{- end }}
{{- if and .Values.kafka.enabled .Values.config.kafka.brokers }}
{{- fail "config.kafka.brokers must be empty while kafka.enabled is true: the fleet then uses the kafka subchart's Service (<release>-kafka:9092); set kafka.enabled=false to use your own brokers" }}
{{- end }}
{{- end }}
