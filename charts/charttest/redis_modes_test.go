package charttest

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// sentinelValues is a Sentinel deployment of the fleet's Redis.
var sentinelValues = []string{
	"config.redis.mode=sentinel", "config.redis.addr=",
	"config.redis.addrs={redis-node-0.redis:26379,redis-node-1.redis:26379,redis-node-2.redis:26379}",
	"config.redis.masterName=mymaster", "config.redis.sentinelUsername=sentinel-user",
	"secrets.redisPassword=redis-pass", "secrets.redisSentinelPassword=sentinel-pass",
}

// clusterValues is a Redis Cluster deployment.
var clusterValues = []string{"config.redis.mode=cluster", "config.redis.addr=", "config.redis.addrs={redis-cluster-0.redis:6379,redis-cluster-1.redis:6379}"}

// TestRedisModes: each config.redis.mode renders its SMSFLEET_REDIS_*
// variables into the ConfigMap (the sentinels' password into the Secret),
// which every role, the monitor included, loads; KEDA's trigger is the
// scaler of that mode.
func TestRedisModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		// config: the ConfigMap's SMSFLEET_REDIS_* besides the fixed ones
		// ("" for absent); secret: the Secret's sentinel password.
		config  map[string]string
		secret  string
		trigger string
		meta    map[string]string // KEDA trigger metadata ("" for absent)
	}{
		{
			name: "standalone (default)",
			config: map[string]string{"SMSFLEET_REDIS_MODE": "standalone", "SMSFLEET_REDIS_ADDR": "redis-master.data:6379",
				"SMSFLEET_REDIS_ADDRS": "", "SMSFLEET_REDIS_MASTER_NAME": "", "SMSFLEET_REDIS_SENTINEL_USERNAME": ""},
			trigger: "redis",
			meta:    map[string]string{"address": "redis-master.data:6379", "addresses": "", "databaseIndex": "0", "sentinelMaster": ""},
		},
		{
			name: "standalone on addrs",
			set:  []string{"config.redis.addr=", "config.redis.addrs={redis-0.redis:6379}"},
			config: map[string]string{"SMSFLEET_REDIS_MODE": "standalone", "SMSFLEET_REDIS_ADDR": "",
				"SMSFLEET_REDIS_ADDRS": "redis-0.redis:6379"},
			trigger: "redis",
			meta:    map[string]string{"address": "redis-0.redis:6379"},
		},
		{
			name: "sentinel",
			set:  sentinelValues,
			config: map[string]string{"SMSFLEET_REDIS_MODE": "sentinel", "SMSFLEET_REDIS_ADDR": "",
				"SMSFLEET_REDIS_ADDRS":       "redis-node-0.redis:26379,redis-node-1.redis:26379,redis-node-2.redis:26379",
				"SMSFLEET_REDIS_MASTER_NAME": "mymaster", "SMSFLEET_REDIS_SENTINEL_USERNAME": "sentinel-user"},
			secret:  "sentinel-pass",
			trigger: "redis-sentinel",
			meta: map[string]string{"address": "", "addresses": "redis-node-0.redis:26379,redis-node-1.redis:26379,redis-node-2.redis:26379",
				"sentinelMaster": "mymaster", "databaseIndex": "0", "passwordFromEnv": "SMSFLEET_REDIS_PASSWORD",
				"sentinelUsernameFromEnv": "SMSFLEET_REDIS_SENTINEL_USERNAME", "sentinelPasswordFromEnv": "SMSFLEET_REDIS_SENTINEL_PASSWORD"},
		},
		{
			name: "cluster",
			set:  clusterValues,
			config: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDR": "",
				"SMSFLEET_REDIS_ADDRS": "redis-cluster-0.redis:6379,redis-cluster-1.redis:6379", "SMSFLEET_REDIS_MASTER_NAME": ""},
			trigger: "redis-cluster",
			meta: map[string]string{"address": "", "addresses": "redis-cluster-0.redis:6379,redis-cluster-1.redis:6379",
				"databaseIndex": "", "sentinelMaster": "", "sentinelPasswordFromEnv": ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, valueSet{set: append(slices.Clone(tc.set), "worker.keda.enabled=true")}, capabilities{})
			cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname)
			for k, want := range tc.config {
				if got, ok := cm.Data[k]; got != want || ok != (want != "") {
					t.Errorf("ConfigMap %s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			sec := get[*corev1.Secret](t, r, "Secret", fullname)
			if got := string(sec.Data["SMSFLEET_REDIS_SENTINEL_PASSWORD"]); got != tc.secret {
				t.Errorf("Secret SMSFLEET_REDIS_SENTINEL_PASSWORD = %q, want %q", got, tc.secret)
			}
			// Every role, the monitor included, reads the same settings.
			for _, role := range roles {
				c := r.deployment(t, role).Spec.Template.Spec.Containers[0]
				var from []string
				for _, ef := range c.EnvFrom {
					switch {
					case ef.ConfigMapRef != nil:
						from = append(from, "cm/"+ef.ConfigMapRef.Name)
					case ef.SecretRef != nil:
						from = append(from, "secret/"+ef.SecretRef.Name)
					}
				}
				if !slices.Equal(from, []string{"cm/" + fullname, "secret/" + fullname}) {
					t.Errorf("%s loads %v, want the ConfigMap and the Secret", role, from)
				}
			}
			so := get[*ScaledObject](t, r, "ScaledObject", fullname+"-worker")
			for _, tr := range so.Spec.Triggers {
				if tr.Type != tc.trigger {
					t.Errorf("trigger %s type %q, want %q", tr.Name, tr.Type, tc.trigger)
				}
				for k, want := range tc.meta {
					if got, ok := tr.Metadata[k]; got != want || ok != (want != "") {
						t.Errorf("trigger %s %s = %q (present %v), want %q", tr.Name, k, got, ok, want)
					}
				}
			}
		})
	}
}

// TestRedisModesRefused: a mode without what it needs, or with another
// mode's settings, fails rendering with a message naming the value; the
// schema refuses an unknown mode and an address without a port.
func TestRedisModesRefused(t *testing.T) {
	without := func(set []string, prefix string) []string {
		return slices.DeleteFunc(slices.Clone(set), func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	for _, tc := range []struct {
		name string
		vs   valueSet
		want []string
	}{
		{"sentinel without addrs", valueSet{set: without(sentinelValues, "config.redis.addrs=")}, []string{"config.redis.addrs is required when config.redis.mode is sentinel", "sentinels"}},
		{"sentinel without a master name", valueSet{set: without(sentinelValues, "config.redis.masterName=")}, []string{"config.redis.masterName is required when config.redis.mode is sentinel"}},
		{"cluster without addrs", valueSet{set: []string{"config.redis.mode=cluster"}}, []string{"config.redis.addrs is required when config.redis.mode is cluster", "seed nodes"}},
		{"cluster with a database", valueSet{set: append(slices.Clone(clusterValues), "config.redis.db=2")}, []string{"config.redis.db must be 0 when config.redis.mode is cluster"}},
		{"standalone with two addrs", valueSet{set: []string{"config.redis.addrs={a:6379,b:6379}"}}, []string{"config.redis.addrs has 2 addresses but config.redis.mode is standalone"}},
		{"master name in standalone", valueSet{set: []string{"config.redis.masterName=mymaster"}}, []string{"used only when config.redis.mode is sentinel (it is standalone)"}},
		{"sentinel password in cluster", valueSet{set: append(slices.Clone(clusterValues), "secrets.redisSentinelPassword=x")}, []string{"used only when config.redis.mode is sentinel (it is cluster)"}},
		{"sentinel password with an existing secret", valueSet{set: append(slices.Clone(sentinelValues), "secrets.existingSecret=mine", "secrets.applications=", "secrets.monitorPassword=", "secrets.redisPassword=")},
			[]string{"secrets.redisSentinelPassword", "not used with secrets.existingSecret"}},
		{"unknown mode", valueSet{set: []string{"config.redis.mode=replicated"}}, []string{"schema", "/config/redis/mode"}},
		{"sentinel address without port", valueSet{set: []string{"config.redis.mode=sentinel", "config.redis.masterName=m", "config.redis.addrs={sentinel}"}}, []string{"schema", "/config/redis/addrs/0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := renderChart(t, tc.vs, capabilities{})
			if err == nil {
				t.Fatal("rendered; want an error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}
