package charttest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// envSecretRef returns the Secret and key an env variable of the role's
// container is read from, or "" when it is not.
func envSecretRef(t *testing.T, r *rendered, role, name string) (secret, key string) {
	t.Helper()
	for _, e := range r.deployment(t, role).Spec.Template.Spec.Containers[0].Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
		}
	}
	return "", ""
}

// servicePort returns the port named name of a rendered Service, or 0.
func servicePort(t *testing.T, r *rendered, svc, name string) int32 {
	t.Helper()
	s := get[*corev1.Service](t, r, "Service", svc)
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return p.Port
		}
	}
	return 0
}

// TestSubcharts checks the wiring to the optional bitnami redis and kafka
// subcharts (stubs here): off by default, and when on the fleet's ConfigMap
// and password point at exactly the Services and Secret the subchart renders.
func TestSubcharts(t *testing.T) {
	bare := func(yaml string) valueSet {
		return valueSet{bare: true, yaml: "secrets: {applications: 'SHOP1-00001:tok', monitorPassword: pw}\n" + yaml}
	}
	for _, tc := range []struct {
		name  string
		vs    valueSet
		check func(t *testing.T, r *rendered, cm map[string]string)
	}{
		{"off by default", valueSet{}, func(t *testing.T, r *rendered, cm map[string]string) {
			for key, src := range r.sources {
				if strings.Contains(src, "/charts/") {
					t.Errorf("%s rendered from %s with the subcharts off", key, src)
				}
			}
			if s, _ := envSecretRef(t, r, "worker", "SMSFLEET_REDIS_PASSWORD"); s != "" {
				t.Errorf("redis password read from %s with the subchart off", s)
			}
		}},
		{"redis and kafka on", bare("redis: {enabled: true}\nkafka: {enabled: true}\n"), func(t *testing.T, r *rendered, cm map[string]string) {
			if cm["SMSFLEET_REDIS_ADDR"] != "prod-redis-master:6379" || cm["SMSFLEET_REDIS_MODE"] != "standalone" {
				t.Errorf("redis = %s %s, want standalone prod-redis-master:6379", cm["SMSFLEET_REDIS_MODE"], cm["SMSFLEET_REDIS_ADDR"])
			}
			if p := servicePort(t, r, "prod-redis-master", "tcp-redis"); p != 6379 {
				t.Errorf("the redis subchart's Service prod-redis-master serves %d", p)
			}
			if cm["SMSFLEET_KAFKA_BROKERS"] != "prod-kafka:9092" {
				t.Errorf("SMSFLEET_KAFKA_BROKERS = %q, want prod-kafka:9092", cm["SMSFLEET_KAFKA_BROKERS"])
			}
			if p := servicePort(t, r, "prod-kafka", "tcp-client"); p != 9092 {
				t.Errorf("the kafka subchart's Service prod-kafka serves %d", p)
			}
			if proto := get[*corev1.Service](t, r, "Service", "prod-kafka").Annotations["stub/client-protocol"]; proto != "PLAINTEXT" {
				t.Errorf("kafka client listener %q, want PLAINTEXT (the fleet has no SASL)", proto)
			}
			for _, role := range roles {
				s, k := envSecretRef(t, r, role, "SMSFLEET_REDIS_PASSWORD")
				if s != "prod-redis" || k != "redis-password" {
					t.Errorf("%s: SMSFLEET_REDIS_PASSWORD from %s/%s, want prod-redis/redis-password", role, s, k)
				}
			}
			if sec := get[*corev1.Secret](t, r, "Secret", "prod-redis"); len(sec.Data["redis-password"]) == 0 {
				t.Error("the redis subchart's Secret has no redis-password")
			}
		}},
		{"redis sentinel", bare("redis: {enabled: true, sentinel: {enabled: true, masterSet: sms}}\nconfig: {kafka: {brokers: ['k:9092']}}\n"), func(t *testing.T, r *rendered, cm map[string]string) {
			if cm["SMSFLEET_REDIS_MODE"] != "sentinel" || cm["SMSFLEET_REDIS_ADDRS"] != "prod-redis:26379" || cm["SMSFLEET_REDIS_MASTER_NAME"] != "sms" {
				t.Errorf("redis = %s %s %s, want sentinel prod-redis:26379 sms", cm["SMSFLEET_REDIS_MODE"], cm["SMSFLEET_REDIS_ADDRS"], cm["SMSFLEET_REDIS_MASTER_NAME"])
			}
			if p := servicePort(t, r, "prod-redis", "tcp-sentinel"); p != 26379 {
				t.Errorf("the sentinel Service prod-redis serves %d", p)
			}
			if s, k := envSecretRef(t, r, "api", "SMSFLEET_REDIS_SENTINEL_PASSWORD"); s != "prod-redis" || k != "redis-password" {
				t.Errorf("SMSFLEET_REDIS_SENTINEL_PASSWORD from %s/%s", s, k)
			}
		}},
		{"redis with an existing Secret and a name override", bare("redis: {enabled: true, fullnameOverride: cache, auth: {existingSecret: cache-auth, existingSecretPasswordKey: pw}}\nconfig: {kafka: {brokers: ['k:9092']}}\n"), func(t *testing.T, r *rendered, cm map[string]string) {
			if cm["SMSFLEET_REDIS_ADDR"] != "cache-master:6379" || !r.has("Service", "cache-master") {
				t.Errorf("SMSFLEET_REDIS_ADDR = %q (Services %v)", cm["SMSFLEET_REDIS_ADDR"], r.names("Service"))
			}
			if s, k := envSecretRef(t, r, "worker", "SMSFLEET_REDIS_PASSWORD"); s != "cache-auth" || k != "pw" {
				t.Errorf("SMSFLEET_REDIS_PASSWORD from %s/%s, want cache-auth/pw", s, k)
			}
		}},
		{"redis without auth", bare("redis: {enabled: true, auth: {enabled: false}}\nconfig: {kafka: {brokers: ['k:9092']}}\n"), func(t *testing.T, r *rendered, cm map[string]string) {
			if s, _ := envSecretRef(t, r, "worker", "SMSFLEET_REDIS_PASSWORD"); s != "" {
				t.Errorf("a password read from %s with auth off", s)
			}
		}},
		{"KEDA follows the subchart", bare("redis: {enabled: true}\nkafka: {enabled: true}\nworker: {keda: {enabled: true}}\n"), func(t *testing.T, r *rendered, cm map[string]string) {
			so := get[*ScaledObject](t, r, "ScaledObject", fullname+"-worker")
			for _, tr := range so.Spec.Triggers {
				if tr.Metadata["address"] != "prod-redis-master:6379" || tr.Metadata["passwordFromEnv"] != "SMSFLEET_REDIS_PASSWORD" {
					t.Errorf("trigger %s: address %q passwordFromEnv %q", tr.Name, tr.Metadata["address"], tr.Metadata["passwordFromEnv"])
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, tc.vs, capabilities{})
			tc.check(t, r, get[*corev1.ConfigMap](t, r, "ConfigMap", fullname).Data)
		})
	}
}

// TestSubchartConflicts checks that a subchart switched on together with the
// external setting it replaces fails, naming the value.
func TestSubchartConflicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		vs   valueSet
		want string
	}{
		{"redis on and an address", valueSet{set: []string{"redis.enabled=true"}}, "config.redis.addr, addrs, masterName and mode must be left at their defaults while redis.enabled is true"},
		{"redis on in cluster mode", valueSet{bare: true, set: []string{"redis.enabled=true", "config.redis.mode=cluster", "config.kafka.brokers={k:9092}", "secrets.applications=A:b", "secrets.monitorPassword=p"}}, "while redis.enabled is true"},
		{"redis on and a password", valueSet{bare: true, set: []string{"redis.enabled=true", "secrets.redisPassword=x", "config.kafka.brokers={k:9092}", "secrets.applications=A:b", "secrets.monitorPassword=p"}}, "secrets.redisPassword and secrets.redisSentinelPassword must be empty while redis.enabled is true"},
		{"kafka on and brokers", valueSet{set: []string{"kafka.enabled=true"}}, "config.kafka.brokers must be empty while kafka.enabled is true"},
		{"neither kafka nor brokers", valueSet{set: []string{"config.kafka.brokers=null"}}, "or set kafka.enabled=true"},
		{"subchart switch not a boolean", valueSet{set: []string{"redis.enabled=yes"}}, "/redis/enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := renderChart(t, tc.vs, capabilities{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
