package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestScalingDocValues: the Helm values docs/scaling.md gives for 10 and
// 30 masters render, in cluster mode, with their partitions and lane
// shards in the ConfigMap, so the page's examples stay pasteable.
func TestScalingDocValues(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(chartDir, "..", "..", "docs", "scaling.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) != 2 {
		t.Fatalf("docs/scaling.md has %d yaml blocks, want the 10- and 30-master values", len(blocks))
	}
	for i, want := range []struct{ partitions, shards string }{{"40", "20"}, {"120", "60"}} {
		r := render(t, valueSet{yaml: blocks[i][1]}, capabilities{})
		cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname)
		if cm.Data["SMSFLEET_REDIS_MODE"] != "cluster" || cm.Data["SMSFLEET_REDIS_PARTITIONS"] != want.partitions || cm.Data["SMSFLEET_LANE_SHARDS"] != want.shards {
			t.Errorf("block %d: ConfigMap %v, want cluster mode, %s partitions, %s shards", i, cm.Data, want.partitions, want.shards)
		}
	}
}
