package charttest

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestDurablePreset: values-durable.yaml renders a fleet that waits for one
// replica (SMSFLEET_REDIS_WAIT_REPLICAS=1); the defaults wait for none and
// bound the outcome stream.
func TestDurablePreset(t *testing.T) {
	preset, err := os.ReadFile(filepath.Join(chartDir, "values-durable.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml, replicas string
	}{{"defaults", "", "0"}, {"durable", string(preset), "1"}} {
		r := render(t, valueSet{yaml: tc.yaml}, capabilities{})
		cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname)
		if cm.Data["SMSFLEET_REDIS_WAIT_REPLICAS"] != tc.replicas || cm.Data["SMSFLEET_REDIS_WAIT_TIMEOUT"] != "1s" || cm.Data["SMSFLEET_OUTCOMES_MAX"] != "1000000" {
			t.Errorf("%s: ConfigMap %v", tc.name, cm.Data)
		}
	}
}
