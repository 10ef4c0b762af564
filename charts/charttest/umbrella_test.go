package charttest

import (
	"bytes"
	"log"
	"os"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/strvals"
	corev1 "k8s.io/api/core/v1"
)

// TestUmbrella uses the chart as a dependency of an umbrella chart
// (testdata/umbrella): Helm then hands it `global`, which its schema must
// accept, and the umbrella's values under smsfleet: configure it. It lints the
// umbrella with Helm's linter and renders it, with the subcharts off and on.
func TestUmbrella(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	for _, m := range lint.AllWithKubeVersion(stageUmbrella(t), nil, namespace, kubeVersion).Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("lint umbrella: %s", m)
		}
	}
	if strings.Contains(logged.String(), "[INFO] Fail:") {
		t.Errorf("lint umbrella: %s", logged.String())
	}

	for _, tc := range []struct {
		name           string
		set            []string
		redis, brokers string
	}{
		{"external services", nil, "redis-master.data:6379", "kafka-0.kafka:9092"},
		{"openshift through the umbrella", []string{"smsfleet.podSecurityContext.runAsUser=null", "smsfleet.securityContext.runAsUser=null"}, "redis-master.data:6379", "kafka-0.kafka:9092"},
		{"bundled redis and kafka", []string{"smsfleet.redis.enabled=true", "smsfleet.kafka.enabled=true", "smsfleet.config.redis.addr=", "smsfleet.config.kafka.brokers=null"}, "prod-redis-master:6379", "prod-kafka:9092"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			umbrella, err := loader.Load(umbrellaDir)
			if err != nil {
				t.Fatalf("load umbrella: %v", err)
			}
			umbrella.AddDependency(loadChart(t))
			vals := map[string]any{}
			for _, s := range tc.set {
				if err := strvals.ParseInto(s, vals); err != nil {
					t.Fatal(err)
				}
			}
			manifest, _, err := renderLoaded(t, umbrella, vals, capabilities{})
			if err != nil {
				t.Fatalf("render umbrella: %v", err)
			}
			r := parseManifest(t, manifest)
			cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname).Data
			if cm["SMSFLEET_REDIS_ADDR"] != tc.redis || cm["SMSFLEET_KAFKA_BROKERS"] != tc.brokers {
				t.Errorf("redis %q brokers %q, want %q %q", cm["SMSFLEET_REDIS_ADDR"], cm["SMSFLEET_KAFKA_BROKERS"], tc.redis, tc.brokers)
			}
			if !r.has("ConfigMap", "prod-umbrella") || len(r.names("Deployment")) != len(roles) {
				t.Errorf("umbrella ConfigMaps %v, Deployments %v", r.names("ConfigMap"), r.names("Deployment"))
			}
			if strings.HasPrefix(tc.name, "openshift") {
				spec := r.deployment(t, "api").Spec.Template.Spec
				if spec.SecurityContext.RunAsUser != nil || spec.Containers[0].SecurityContext.RunAsUser != nil {
					t.Errorf("null did not drop runAsUser through the umbrella: %+v", spec.SecurityContext)
				}
			}
			if strings.HasPrefix(tc.name, "bundled") && (!r.has("Service", "prod-redis-master") || !r.has("Service", "prod-kafka")) {
				t.Errorf("bundled Services missing: %v", r.names("Service"))
			}
		})
	}
}

// parseManifest decodes a rendered release strictly, like render.
func parseManifest(t testing.TB, manifest string) *rendered {
	t.Helper()
	return decodeManifest(t, manifest, "")
}
