package charttest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestLaneShards: config.laneShards is SMSFLEET_LANE_SHARDS, and KEDA
// scales on every shard's pending list, each shard with its share of the
// lane's target; one shard keeps the lanes' own queue names and targets.
func TestLaneShards(t *testing.T) {
	for _, tc := range []struct {
		shards int
		want   []string // "name listName listLength", lane by lane
	}{
		{1, []string{
			"lane-otp asynq:{otp}:pending 20",
			"lane-transactional asynq:{transactional}:pending 200",
			"lane-marketing asynq:{marketing}:pending 2000",
			"lane-dispatch asynq:{dispatch}:pending 10",
		}},
		{3, []string{
			// 20/3, 200/3, 2000/3, 10/3 rounded up.
			"lane-otp-0 asynq:{otp.0}:pending 7", "lane-otp-1 asynq:{otp.1}:pending 7", "lane-otp-2 asynq:{otp.2}:pending 7",
			"lane-transactional-0 asynq:{transactional.0}:pending 67", "lane-transactional-1 asynq:{transactional.1}:pending 67", "lane-transactional-2 asynq:{transactional.2}:pending 67",
			"lane-marketing-0 asynq:{marketing.0}:pending 667", "lane-marketing-1 asynq:{marketing.1}:pending 667", "lane-marketing-2 asynq:{marketing.2}:pending 667",
			"lane-dispatch-0 asynq:{dispatch.0}:pending 4", "lane-dispatch-1 asynq:{dispatch.1}:pending 4", "lane-dispatch-2 asynq:{dispatch.2}:pending 4",
		}},
	} {
		t.Run(fmt.Sprintf("laneShards=%d", tc.shards), func(t *testing.T) {
			r := render(t, valueSet{set: []string{"worker.keda.enabled=true", fmt.Sprintf("config.laneShards=%d", tc.shards)}}, capabilities{})
			cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname)
			if got := cm.Data["SMSFLEET_LANE_SHARDS"]; got != fmt.Sprint(tc.shards) {
				t.Errorf("SMSFLEET_LANE_SHARDS = %q, want %d", got, tc.shards)
			}
			so := get[*ScaledObject](t, r, "ScaledObject", fullname+"-worker")
			var got []string
			for _, tr := range so.Spec.Triggers {
				if tr.Type != "redis" || tr.Metadata["address"] != "redis-master.data:6379" || tr.Metadata["passwordFromEnv"] != "SMSFLEET_REDIS_PASSWORD" {
					t.Errorf("trigger %s: %s %v", tr.Name, tr.Type, tr.Metadata)
				}
				got = append(got, tr.Name+" "+tr.Metadata["listName"]+" "+tr.Metadata["listLength"])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("triggers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestQueueLatencyCoversEveryShard: the lane's latency alert matches its
// queue and every shard of it, not another lane's.
func TestQueueLatencyCoversEveryShard(t *testing.T) {
	r := render(t, valueSet{set: []string{"config.laneShards=4"}}, withPromOperator)
	rules := rulesNamed(get[*PrometheusRule](t, r, "PrometheusRule", fullname), "SmsfleetQueueLatencyHigh")
	if len(rules) != len(lanes) {
		t.Fatalf("%d queue latency rules, want one per lane", len(rules))
	}
	matcher := regexp.MustCompile(`queue=~"([^"]+)"`)
	for i, lane := range lanes {
		rule := rules[i]
		m := matcher.FindStringSubmatch(rule.Expr)
		if rule.Labels["lane"] != lane || m == nil || !strings.Contains(rule.Expr, "max by (namespace) (") {
			t.Fatalf("%s rule: %+v", lane, rule)
		}
		// PromQL anchors label regexps at both ends, as here.
		re := regexp.MustCompile("^(?:" + m[1] + ")$")
		for _, q := range []string{lane, lane + ".0", lane + ".3", lane + ".255"} {
			if !re.MatchString(q) {
				t.Errorf("%s rule's queue matcher %q misses %s", lane, m[1], q)
			}
		}
		for _, q := range []string{"callbacks", lane + "x", lane + ".", lane + ".a", "x" + lane} {
			if re.MatchString(q) {
				t.Errorf("%s rule's queue matcher %q takes %s", lane, m[1], q)
			}
		}
	}
}
