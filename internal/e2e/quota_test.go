package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/quota"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// withQuotas gives app the quotas qs.
func withQuotas(app string, qs config.Quotas) func(*config.Config, *fleet.Roles) {
	return func(c *config.Config, _ *fleet.Roles) {
		for i := range c.Applications {
			if c.Applications[i].Code == app {
				c.Applications[i].Quotas = qs
			}
		}
	}
}

// quotasView is GET /api/v1/quotas.
type quotasView struct {
	Currency string
	Quotas   []struct {
		Quota, Unit, Period, Used, Limit string
		WarnPercent                      int    `json:"warn_percent"`
		PeriodEnd                        string `json:"period_end"`
	}
}

// createAs calls createMessage for app with one notification.
func createAs(e *harness.Env, app, token string, n map[string]any) harness.Reply {
	return e.Call("createMessage", map[string]any{"application": app, "auth": token, "notifications": []any{n}}, "")
}

// messageCode reads the one message code of a createMessage answer.
func messageCode(t *testing.T, r harness.Reply) string {
	t.Helper()
	var resp struct{ Messages []string }
	if r.StatusCode != 200 || json.Unmarshal(r.Response, &resp) != nil || len(resp.Messages) != 1 {
		t.Fatalf("createMessage: HTTP %d status %d %q %s", r.HTTP, r.StatusCode, r.StatusMessage, r.Response)
	}
	return resp.Messages[0]
}

// TestQuotaSMSRefusedAtIntake (issue 18, quotas): a request whose SMS
// would exceed the day's SMS quota, as already used, is refused with a 210
// naming the quota and stores nothing; GET /api/v1/quotas shows each
// quota's use, limit and period end.
func TestQuotaSMSRefusedAtIntake(t *testing.T) {
	e := harness.New(t, withQuotas(harness.ShopApp, config.Quotas{
		config.SMSPerDay:   {Limit: 5, WarnPercent: 80},
		config.SMSPerMonth: {Limit: 1000, WarnPercent: 90},
	}))
	phones := harness.Phones(7100, 6)
	e.Register(harness.ShopApp, harness.ShopToken, phones...)
	first := e.Send(map[string]any{"send_date": "now", "content": "Sale", "devices": phones[:3]})
	e.WaitCounts(first, map[string]int64{"sent": 3}, 20*time.Second)

	r := createAs(e, harness.ShopApp, harness.ShopToken, map[string]any{"send_date": "now", "content": "More", "devices": phones[3:6]})
	want := "notifications[0]: quota sms_per_day 5 reached (3 used, 3 requested)"
	if r.HTTP != http.StatusOK || r.StatusCode != 210 || r.StatusMessage != want {
		t.Fatalf("over the quota: HTTP %d status %d %q, want 210 %q", r.HTTP, r.StatusCode, r.StatusMessage, want)
	}
	var list struct{ Messages []struct{ Code string } }
	if st := e.Native("/api/v1/messages", harness.ShopToken, &list); st != http.StatusOK || len(list.Messages) != 1 {
		t.Fatalf("messages after the refusal: HTTP %d %+v, want only the first", st, list)
	}
	// What still fits goes.
	second := e.Send(map[string]any{"send_date": "now", "content": "Last", "devices": phones[3:5]})
	e.WaitCounts(second, map[string]int64{"sent": 2}, 20*time.Second)
	if n := e.Sim.Count(); n != 5 {
		t.Errorf("the simulator received %d SMS, want 5", n)
	}
	var q quotasView
	if st := e.Native("/api/v1/quotas", harness.ShopToken, &q); st != http.StatusOK || len(q.Quotas) != 2 {
		t.Fatalf("quotas: HTTP %d %+v", st, q)
	}
	now := e.Clock.Now().UTC()
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	nextMonth := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	day, month := q.Quotas[0], q.Quotas[1]
	if day.Quota != "sms_per_day" || day.Used != "5" || day.Limit != "5" || day.Period != "day" || day.PeriodEnd != tomorrow || day.WarnPercent != 80 {
		t.Errorf("day quota %+v", day)
	}
	if month.Quota != "sms_per_month" || month.Used != "5" || month.Limit != "1000" || month.Period != "month" || month.PeriodEnd != nextMonth {
		t.Errorf("month quota %+v", month)
	}
	// The metrics: use and limit per configured application and quota
	// (bounded labels), and the intake's refusal counted.
	metricsBody := getMetrics(t, e)
	for _, want := range []string{
		`smsfleet_quota_used{application="SHOP1-00001",quota="sms_per_day"} 5`,
		`smsfleet_quota_limit{application="SHOP1-00001",quota="sms_per_month"} 1000`,
		`smsfleet_quota_refused_total{quota="sms_per_day",stage="intake"}`,
	} {
		if !strings.Contains(metricsBody, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metricsBody, `smsfleet_quota_used{application="BANK1-00002"`) {
		t.Error("/metrics shows quotas of an application that has none")
	}
	// Today's quota used up does not refuse a message due tomorrow (the
	// worker checks it in its own day).
	later := time.Date(now.Year(), now.Month(), now.Day()+1, 10, 0, 0, 0, time.UTC).Format("2006-01-02 15:04")
	if r := createAs(e, harness.ShopApp, harness.ShopToken, map[string]any{"send_date": later, "timezone": "UTC", "content": "Tomorrow", "devices": phones[:2]}); r.StatusCode != 200 {
		t.Errorf("a message for tomorrow: status %d %q, want accepted", r.StatusCode, r.StatusMessage)
	}
	// Another application's quotas are its own (none); a wrong token is 401.
	var bank quotasView
	if st := e.Native("/api/v1/quotas", harness.BankToken, &bank); st != http.StatusOK || len(bank.Quotas) != 0 {
		t.Errorf("bank quotas: HTTP %d %+v", st, bank)
	}
	if st := e.Native("/api/v1/quotas", "wrong-token", &struct{}{}); st != http.StatusUnauthorized {
		t.Errorf("wrong token: HTTP %d, want 401", st)
	}
}

// TestQuotaSegmentsAndBudgetSuppressAtSend: the segment quota and the
// monthly budget are known only at send time; the SMS past them end
// suppressed with reason quota_<name>, and the simulator receives nothing
// for them.
func TestQuotaSegmentsAndBudgetSuppressAtSend(t *testing.T) {
	e := harness.New(t,
		withQuotas(harness.ShopApp, config.Quotas{config.SegmentsPerDay: {Limit: 5, WarnPercent: 100}}),
		withQuotas(harness.BankApp, config.Quotas{config.MoneyPerMonth: {Limit: 100_000, WarnPercent: 100}}),
		func(c *config.Config, _ *fleet.Roles) {
			c.Prices = config.Prices{Currency: "EUR", Providers: map[string]map[string]string{"simulator": {"DE": "0.0450", "*": "0.07"}}}
		})
	shop := harness.Phones(7200, 4)
	e.Register(harness.ShopApp, harness.ShopToken, shop...)
	long := strings.Repeat("Two segments of offer text. ", 8) // 224 GSM-7 characters: 2 segments
	code := e.Send(map[string]any{"send_date": "now", "content": long, "devices": shop})
	v := e.WaitCounts(code, map[string]int64{"sent": 2, "suppressed": 2}, 20*time.Second)
	checkQuotaSuppressed(t, e, v, "quota_segments_per_day")

	bank := harness.Phones(7300, 3)
	e.Register(harness.BankApp, harness.BankToken, bank...)
	bcode := messageCode(t, createAs(e, harness.BankApp, harness.BankToken, map[string]any{"send_date": "now", "content": "Statement ready", "devices": bank}))
	var bv harness.MessageView
	harness.Eventually(t, 20*time.Second, func() bool {
		e.Native("/api/v1/messages/"+bcode, harness.BankToken, &bv)
		return harness.CountsEqual(harness.NonZero(bv.Message.Counts), map[string]int64{"sent": 2, "suppressed": 1})
	}, func() string { return fmt.Sprintf("bank message counts %v", bv.Message.Counts) })
	checkQuotaSuppressed(t, e, bv, "quota_money_per_month")
	var q quotasView
	if st := e.Native("/api/v1/quotas", harness.BankToken, &q); st != http.StatusOK || len(q.Quotas) != 1 ||
		q.Quotas[0].Used != "0.090000" || q.Quotas[0].Limit != "0.100000" || q.Quotas[0].Unit != "money" || q.Currency != "EUR" {
		t.Errorf("bank quotas: HTTP %d %+v, want 0.090000 of 0.100000 EUR used", st, q)
	}
}

// checkQuotaSuppressed: each suppressed SMS of v has reason, and the
// simulator received exactly the sent ones.
func checkQuotaSuppressed(t *testing.T, e *harness.Env, v harness.MessageView, reason string) {
	t.Helper()
	for _, r := range v.Recipients {
		got := len(e.Sim.Messages(r.To, 10))
		switch r.Status {
		case "suppressed":
			if r.Reason != reason || got != 0 || r.Provider != "" {
				t.Errorf("%s suppressed with reason %q via %q, the simulator got %d SMS; want %s and none", r.ID, r.Reason, r.Provider, got, reason)
			}
		case "sent":
			if got != 1 {
				t.Errorf("%s sent, the simulator got %d SMS", r.ID, got)
			}
		default:
			t.Errorf("%s is %s", r.ID, r.Status)
		}
	}
}

// TestQuotaConcurrentSendsNeverExceed: 8 clients send 6 single-SMS
// messages each at once, through three worker pods, against a quota of
// 29 segments a day: exactly 29 are sent, the other 19 suppressed.
func TestQuotaConcurrentSendsNeverExceed(t *testing.T) {
	e := harness.New(t, withQuotas(harness.ShopApp, config.Quotas{config.SegmentsPerDay: {Limit: 29, WarnPercent: 100}}))
	harness.StartWorker(t, e)
	harness.StartWorker(t, e)
	phones := harness.Phones(7400, 48)
	e.Register(harness.ShopApp, harness.ShopToken, phones...)
	var (
		mu    sync.Mutex
		codes []string
		wg    sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 6 {
				r := createAs(e, harness.ShopApp, harness.ShopToken, map[string]any{"send_date": "now", "content": "Flash sale", "devices": []string{phones[g*6+i]}})
				var resp struct{ Messages []string }
				if r.StatusCode != 200 || json.Unmarshal(r.Response, &resp) != nil || len(resp.Messages) != 1 {
					t.Errorf("createMessage: %d %q", r.StatusCode, r.StatusMessage)
					return
				}
				mu.Lock()
				codes = append(codes, resp.Messages[0])
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	counts := map[string]int64{}
	for _, code := range codes {
		v := harness.Poll(20*time.Second, 20*time.Millisecond, func() bool {
			c := e.Message(code).Message.Counts
			return c["sent"]+c["suppressed"] == 1
		})
		if !v {
			t.Fatalf("message %s not settled: %v", code, e.Message(code).Message.Counts)
		}
		for st, n := range harness.NonZero(e.Message(code).Message.Counts) {
			counts[st] += n
		}
		for _, r := range e.Message(code).Recipients {
			if r.Status == "suppressed" && r.Reason != "quota_segments_per_day" {
				t.Errorf("%s suppressed with reason %q", r.ID, r.Reason)
			}
		}
	}
	if counts["sent"] != 29 || counts["suppressed"] != 19 || e.Sim.Count() != 29 {
		t.Fatalf("counts %v, simulator %d; want exactly 29 sent (the quota), 19 suppressed", counts, e.Sim.Count())
	}
}

// TestQuotaWarningLandsInKafkaOnce: crossing a warning threshold, from
// concurrent sends on three pods, puts one record per quota and period on
// smsfleet.quota, with the fleet's header set.
func TestQuotaWarningLandsInKafkaOnce(t *testing.T) {
	k := testenv.NewKafka(t, 3, quota.Topic)
	e := harness.New(t, withQuotas(harness.ShopApp, config.Quotas{
		config.SMSPerDay:      {Limit: 40, WarnPercent: 25},
		config.SegmentsPerDay: {Limit: 1000, WarnPercent: 1},
	}), func(c *config.Config, _ *fleet.Roles) { c.Kafka.Brokers = []string{k.Addr} })
	harness.StartWorker(t, e)
	harness.StartWorker(t, e)
	phones := harness.Phones(7500, 30)
	e.Register(harness.ShopApp, harness.ShopToken, phones...)
	var wg sync.WaitGroup
	codes := make([]string, 6)
	for g := range 6 {
		wg.Go(func() {
			codes[g] = e.Send(map[string]any{"send_date": "now", "content": "Hello", "devices": phones[g*5 : g*5+5]})
		})
	}
	wg.Wait()
	for _, code := range codes {
		e.WaitCounts(code, map[string]int64{"sent": 5}, 20*time.Second)
	}
	recs := readQuotaWarnings(t, k, 2, 20*time.Second)
	if len(recs) != 2 {
		t.Fatalf("%d quota warnings on %s, want 2 (one per quota): %v", len(recs), quota.Topic, recs)
	}
	day := e.Clock.Now().UTC().Format("20060102")
	seen := map[string]bool{}
	for _, m := range recs {
		var ev struct {
			ID, Application, Quota, Period, Limit, Threshold, Unit string
			WarnPercent                                            int `json:"warn_percent"`
		}
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		seen[ev.Quota] = true
		if ev.Application != harness.ShopApp || ev.Period != day || ev.ID != "quota:"+harness.ShopApp+":"+ev.Quota+":"+day || string(m.Key) != harness.ShopApp {
			t.Errorf("warning %s", m.Value)
		}
		if h["content-type"] != "application/json" || h["event-type"] != "quota.warning" || h["schema-version"] != "1" || h["ce_id"] != ev.ID ||
			h["ce_type"] != quota.CEType || h["ce_source"] != quota.CESource || h["ce_specversion"] != "1.0" || h["ce_time"] == "" {
			t.Errorf("headers %v", h)
		}
	}
	if !seen["sms_per_day"] || !seen["segments_per_day"] {
		t.Errorf("warnings for %v, want sms_per_day and segments_per_day", seen)
	}
}

// readQuotaWarnings reads smsfleet.quota from the start until want
// records came or wait passed, then a little longer to catch duplicates.
func readQuotaWarnings(t *testing.T, k *testenv.Kafka, want int, wait time.Duration) []kafka.Message {
	t.Helper()
	return readRecords(t, k, quota.Topic, want, wait)
}

// TestQuotaBadConfigRefusedAtStartup: a bad quota in SMSFLEET_CONFIG
// stops start-up (config.Load, what every role runs first) with an error
// naming the application and the field.
func TestQuotaBadConfigRefusedAtStartup(t *testing.T) {
	for _, tc := range []struct{ quotas, want string }{
		{`{sms_per_day: {limit: 0}}`, "applications[0]: application QUOTA-00001: quotas.sms_per_day.limit: 0 must be from 1"},
		{`{segments_per_month: {limit: 100, warn_percent: 150}}`, "quotas.segments_per_month.warn_percent: 150 is not a percentage"},
		{`{money_per_month: {limit: "ten euros"}}`, "quotas.money_per_month.limit"},
		{`{money_per_month: {limit: "10.00"}}`, "application QUOTA-00001: quotas money_per_day/money_per_month need prices"},
	} {
		p := filepath.Join(t.TempDir(), "smsfleet.yaml")
		body := "applications:\n  - {code: QUOTA-00001, server_token: quota-server-token, quotas: " + tc.quotas + "}\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SMSFLEET_CONFIG", p)
		t.Setenv("SMSFLEET_SIMULATOR_URL", "http://127.0.0.1:1")
		t.Setenv("SMSFLEET_SIMULATOR_SECRET", "s")
		if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.quotas, err, tc.want)
		}
	}
}

// getMetrics reads the fleet's /metrics.
func getMetrics(t *testing.T, e *harness.Env) string {
	t.Helper()
	resp, err := http.Get(e.API.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d %v", resp.StatusCode, err)
	}
	return string(b)
}
