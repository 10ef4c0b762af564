package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsAfterAFewSends sends a few SMS through dev (one delivered,
// one undelivered, one to two phones so it fans out) with a rate limit
// configured, and reads /metrics: every metric on-call rely on is there
// with the values those sends imply.
func TestMetricsAfterAFewSends(t *testing.T) {
	t.Setenv("SMSFLEET_RATE_LIMITS", "DE=500")
	base := startDev(t)
	send := func(devices string) {
		t.Helper()
		body := `{"request":{"application":"DEMO0-00000","auth":"dev-token","notifications":[{"send_date":"now","content":"m","devices":[` + devices + `],"use_auto_registration":true}]}}`
		resp, err := http.Post(base+"/json/1.3/createMessage", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"status_code":200`) {
			t.Fatalf("createMessage: %s", b)
		}
	}
	send(`"+4915112350005"`)
	send(`"+4915112350002"`)
	send(`"+4915112350007","+4915112350008"`)

	// value returns the sum of the samples of a metric whose labels
	// contain every one of want.
	value := func(text, name string, want ...string) float64 {
		sum := 0.0
		re := regexp.MustCompile(`(?m)^` + name + `(\{[^}]*\})? (\S+)$`)
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(m[1], w)
			}
			if ok {
				v, _ := strconv.ParseFloat(m[2], 64)
				sum += v
			}
		}
		return sum
	}
	get := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if strings.HasPrefix(path, "/monitoring/") {
			req.SetBasicAuth("admin", "dev-token") // the monitor's login guards its metrics
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	checks := []struct {
		name    string
		labels  []string
		atLeast float64
	}{
		{"smsfleet_sms_total", []string{`status="sent"`, `lane="transactional"`, `provider="sim-a"`, `operator="DE:T-Mobile"`}, 4},
		{"smsfleet_sms_total", []string{`status="delivered"`, `lane="transactional"`}, 3},
		{"smsfleet_sms_total", []string{`status="undelivered"`}, 1},
		{"smsfleet_sms_sent_total", []string{`lane="transactional"`, `provider="sim-a"`, `operator="DE:T-Mobile"`}, 4},
		{"smsfleet_sms_outcomes_total", []string{`outcome="delivered"`, `lane="transactional"`}, 3},
		{"smsfleet_sms_outcomes_total", []string{`outcome="undelivered"`}, 1},
		{"smsfleet_http_requests_total", []string{`method="get"`, `route="/metrics"`, `code="200"`}, 1},
		{"smsfleet_build_info", []string{`goversion="go`}, 1},
		{"smsfleet_provider_request_duration_seconds_count", []string{`provider="sim-a"`, `result="ok"`}, 4},
		{"smsfleet_breaker_state", []string{`provider="sim-a"`}, 0},
		{"smsfleet_ratelimit_wait_seconds_count", []string{`operator="country:DE"`, `outcome="admitted"`}, 4},
		{"smsfleet_ratelimit_effective_rate", []string{`key="country:DE"`}, 500},
		{"smsfleet_receipts_applied_total", []string{`status="delivered"`}, 3},
		{"smsfleet_receipts_applied_total", []string{`status="undelivered"`}, 1},
		{"smsfleet_receipts_parked_total", nil, 0},
		{"smsfleet_receipts_dropped_total", nil, 0},
		{"smsfleet_receipts_dead_lettered_total", nil, 0},
		{"smsfleet_receipts_consumer_lag", []string{`topic="smsfleet.receipts"`}, 0},
		{"smsfleet_dispatch_fanout_size_count", nil, 1},
		{"smsfleet_outcomes_total", []string{`destination="kafka"`}, 4},
		{"smsfleet_outcomes_backlog", nil, 0},
	}
	var text string
	for deadline := time.Now().Add(15 * time.Second); ; {
		text = get("/metrics")
		missing := ""
		for _, c := range checks {
			if !regexp.MustCompile(`(?m)^`+c.name+`[{ ]`).MatchString(text) || value(text, c.name, c.labels...) < c.atLeast {
				missing += c.name + strings.Join(c.labels, ",") + "; "
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s\n%s", missing, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Queue sizes and latency per lane come from asynq's collector, on the
	// monitor only (in dev: /monitoring/metrics).
	queues := get("/monitoring/metrics")
	for _, lane := range []string{"otp", "transactional", "marketing", "dispatch"} {
		if !strings.Contains(queues, `asynq_queue_size{queue="`+lane+`"}`) || !strings.Contains(queues, `asynq_queue_latency_seconds{queue="`+lane+`"}`) {
			t.Fatalf("asynq queue metrics lack lane %s:\n%s", lane, queues)
		}
	}
	if strings.Contains(text, "asynq_queue_size") {
		t.Fatal("the fleet's /metrics serves asynq's queue collector, which only the monitor should")
	}
}
