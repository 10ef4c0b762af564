package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// promtool finds Prometheus' promtool (Debian's `prometheus` package; .ci/run
// installs it). Under CI=true a missing promtool fails the test; elsewhere
// it skips, saying how to get it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("promtool is not installed (CI=true: this test must run): %v", err)
	}
	t.Skip("promtool is not installed; `apt-get install prometheus` (Debian) provides it")
	return ""
}

// TestEveryRoleMetricsPassPromtoolCheck starts each role of the fleet as
// its command does (api, worker, receipts, monitor), scrapes its real
// /metrics after it served a request, and pipes the text to `promtool
// check metrics`: names, types, units and help follow Prometheus'
// conventions, and every role serves smsfleet_build_info and its HTTP
// request metrics.
func TestEveryRoleMetricsPassPromtoolCheck(t *testing.T) {
	bin := promtool(t)
	r := testenv.NewRedis(t)
	k := testenv.NewKafka(t, 1, "smsfleet.receipts", "smsfleet.receipts.dlq", "smsfleet.outcomes", "smsfleet.inbound", "smsfleet.inbound.dlq")
	for _, tc := range []struct {
		role string
		env  map[string]string
		user string // basic auth of /metrics (the monitor's)
	}{
		{role: "api"},
		{role: "worker", env: map[string]string{"SMSFLEET_SIMULATOR": "inprocess"}},
		{role: "receipts", env: map[string]string{"SMSFLEET_KAFKA_BROKERS": k.Addr}},
		{role: "monitor", env: map[string]string{"SMSFLEET_MONITOR_PASSWORD": "on-call-pass"}, user: "admin"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			for key, v := range map[string]string{
				"SMSFLEET_REDIS_ADDR": r.Addr, "SMSFLEET_APPLICATIONS": "SHOP1-00001:shop-server-token", "SMSFLEET_LOG_LEVEL": "error",
				"SMSFLEET_SHUTDOWN_GRACE": "2s", "SMSFLEET_CONFIG": "", "SMSFLEET_SIMULATOR": "", "SMSFLEET_SIMULATOR_URL": "",
				"SMSFLEET_KAFKA_BROKERS": "",
			} {
				t.Setenv(key, v)
			}
			for key, v := range tc.env {
				t.Setenv(key, v)
			}
			addr, err := startCommand(t, tc.role) // it answered /readyz: a request to count
			if err != nil {
				t.Fatalf("smsfleet %s did not start: %v", tc.role, err)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.env["SMSFLEET_MONITOR_PASSWORD"])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
			}
			for _, want := range []string{"smsfleet_build_info{", `smsfleet_http_requests_total{code="200",method="get",route="/readyz"}`, "smsfleet_http_request_duration_seconds_bucket{"} {
				if !bytes.Contains(body, []byte(want)) {
					t.Errorf("%s /metrics lacks %s", tc.role, want)
				}
			}
			cmd := exec.Command(bin, "check", "metrics")
			cmd.Stdin = bytes.NewReader(body)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("promtool check metrics on %s's /metrics: %v\n%s", tc.role, err, out)
			}
		})
	}
}
