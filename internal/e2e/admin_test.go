package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// TestOperatorAPIRefusesBadInput (issue 18): every refusal has the right
// status and names the field, and changes nothing (the version stays 0,
// the audit stays empty, no queue is paused).
func TestOperatorAPIRefusesBadInput(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a", "sim-b"), withAdmin(50*time.Millisecond))
	bearer := "Bearer " + adminToken
	tests := []struct {
		name, method, path, auth, body string
		status                         int
		field, says                    string
	}{
		{"no token", "GET", "/api/v1/admin/providers", "", "", 401, "Authorization", "admin token"},
		{"wrong token", "GET", "/api/v1/admin/providers", "Bearer not-the-admin-token", "", 401, "Authorization", "admin token"},
		{"an application's token", "POST", "/api/v1/admin/providers/sim-a", "Token " + harness.ShopToken, `{"drained":true}`, 401, "Authorization", "admin token"},
		{"basic scheme", "GET", "/api/v1/admin/audit", "Basic " + adminToken, "", 401, "Authorization", "admin token"},
		{"unknown provider", "POST", "/api/v1/admin/providers/sim-z", bearer, `{"drained":true}`, 404, "name", `unknown provider "sim-z"`},
		{"weight above range", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"weight":1001}`, 400, "weight", "0 to 1000"},
		{"negative weight", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"weight":-1}`, 400, "weight", "0 to 1000"},
		{"fractional weight", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"weight":2.5}`, 400, "weight", "integer"},
		{"weight as a string", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"weight":"5"}`, 400, "weight", "integer"},
		{"drained not a bool", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"drained":"yes"}`, 400, "drained", "true or false"},
		{"unknown field", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"drained":true,"drain":true}`, 400, "drain", "unknown field"},
		{"bad JSON", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"drained":`, 400, "", "malformed JSON"},
		{"not an object", "POST", "/api/v1/admin/providers/sim-a", bearer, `[true]`, 400, "", "malformed JSON"},
		{"trailing data", "POST", "/api/v1/admin/providers/sim-a", bearer, `{"drained":true} {}`, 400, "", "trailing data"},
		{"nothing to change", "POST", "/api/v1/admin/providers/sim-a", bearer, `{}`, 400, "", "nothing to change"},
		{"unknown lane", "POST", "/api/v1/admin/lanes/express", bearer, `{"paused":true}`, 404, "lane", `unknown lane "express"`},
		{"lane without paused", "POST", "/api/v1/admin/lanes/otp", bearer, `{}`, 400, "paused", "paused is required"},
		{"lane paused not a bool", "POST", "/api/v1/admin/lanes/otp", bearer, `{"paused":1}`, 400, "paused", "true or false"},
		{"unknown application", "POST", "/api/v1/admin/applications/NOPE0-00000", bearer, `{"paused":true}`, 404, "code", "unknown application"},
		{"application unknown field", "POST", "/api/v1/admin/applications/" + harness.ShopApp, bearer, `{"paused":true,"why":"x"}`, 400, "why", "unknown field"},
		{"audit limit", "GET", "/api/v1/admin/audit?limit=0", bearer, "", 400, "limit", "limit must be"},
		{"routes without a token", "GET", "/api/v1/routes", "", "", 401, "Authorization", "invalid auth token"},
		{"routes with the admin token", "GET", "/api/v1/routes", "Token " + adminToken, "", 401, "Authorization", "invalid auth token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := adminCall(t, e, tt.method, tt.path, tt.auth, tt.body)
			msg, _ := out["error"].(string)
			field, _ := out["field"].(string)
			if st != tt.status || field != tt.field || !strings.Contains(msg, tt.says) {
				t.Fatalf("HTTP %d field %q error %q; want %d field %q saying %q", st, field, msg, tt.status, tt.field, tt.says)
			}
		})
	}
	v := getProviders(t, e)
	if v.Version != 0 {
		t.Fatalf("refused requests changed the state: version %d", v.Version)
	}
	for _, p := range v.Providers {
		if p.Drained || p.OperatorWeight != nil {
			t.Fatalf("refused requests changed %s: %+v", p.Name, p)
		}
	}
	audit := operator(t, e, "GET", "/api/v1/admin/audit", "")
	if entries, _ := audit["entries"].([]any); len(entries) != 0 {
		t.Fatalf("refused requests were audited: %v", entries)
	}
	for _, q := range e.Config.LaneShards().Queues("otp") {
		if n, _ := e.Client.Exists(context.Background(), "asynq:{"+q+"}:paused").Result(); n != 0 {
			t.Fatalf("queue %s paused by a refused request", q)
		}
	}
}

// TestOperatorAPIOffWithoutToken: with no SMSFLEET_ADMIN_TOKEN the
// operator API answers 503 whatever the request carries: never open.
func TestOperatorAPIOffWithoutToken(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a", "sim-b"))
	for _, auth := range []string{"", "Bearer ", "Bearer anything-at-all-here"} {
		st, out := adminCall(t, e, "POST", "/api/v1/admin/providers/sim-a", auth, `{"drained":true}`)
		if msg, _ := out["error"].(string); st != http.StatusServiceUnavailable || !strings.Contains(msg, "SMSFLEET_ADMIN_TOKEN") {
			t.Fatalf("auth %q: HTTP %d %v", auth, st, out)
		}
	}
}

// TestOperatorPausesAndAudits: weights, lane pauses (asynq's own queue
// pause, every shard) and application pauses (its SMS wait, deferred, not
// failed, and go once resumed), each audited with who, what, before and
// after, and shown to applications in GET /api/v1/routes.
func TestOperatorPausesAndAudits(t *testing.T) {
	e := harness.New(t, twoProviders("sim-a", "sim-b"), withAdmin(20*time.Millisecond), func(c *config.Config, _ *fleet.Roles) {
		c.Admin.Name = "oncall"
		c.DefaultRoute.Weights = map[string]int{"sim-a": 100, "sim-b": 0}
	})
	ctx := context.Background()
	operator(t, e, "POST", "/api/v1/admin/providers/sim-b", `{"weight":300}`)

	// A lane: every shard queue is paused in asynq, and resumed.
	out := operator(t, e, "POST", "/api/v1/admin/lanes/otp", `{"paused":true}`)
	queues := e.Config.LaneShards().Queues("otp")
	insp := asynq.NewInspectorFromRedisClient(e.Client)
	for _, q := range queues {
		if n, _ := e.Client.Exists(ctx, "asynq:{"+q+"}:paused").Result(); n != 1 {
			t.Fatalf("queue %s not paused (%v)", q, out)
		}
	}
	operator(t, e, "POST", "/api/v1/admin/lanes/otp", `{"paused":true}`) // twice is the same
	operator(t, e, "POST", "/api/v1/admin/lanes/otp", `{"paused":false}`)
	for _, q := range queues {
		if n, _ := e.Client.Exists(ctx, "asynq:{"+q+"}:paused").Result(); n != 0 {
			t.Fatalf("queue %s still paused", q)
		}
	}

	// An application: its SMS wait while another application's go.
	shop, bank := harness.Phones(7000, 1), harness.Phones(7100, 1)
	e.Register(harness.ShopApp, harness.ShopToken, shop...)
	e.Register(harness.BankApp, harness.BankToken, bank...)
	v := operator(t, e, "POST", "/api/v1/admin/applications/"+harness.ShopApp, `{"paused":true}`)
	version := int64(v["version"].(float64))
	harness.Eventually(t, 10*time.Second, func() bool { return allPodsApplied(getProviders(t, e), 1, version, time.Time{}) },
		func() string { return "the pause was not applied" })
	code := e.Send(map[string]any{"send_date": "now", "content": "paused", "devices": shop})
	e.MustOK("createMessage", map[string]any{"application": harness.BankApp, "auth": harness.BankToken,
		"notifications": []any{map[string]any{"send_date": "now", "content": "not paused", "devices": bank}}})
	// The bank's SMS goes; by then the shop's has been taken and deferred.
	harness.Eventually(t, 20*time.Second, func() bool { return len(e.Sim.Messages(bank[0], 10)) == 1 },
		func() string { return "the other application's SMS was not sent" })
	harness.Eventually(t, 20*time.Second, func() bool { return retried(t, insp, e) > 0 },
		func() string { return "the paused application's SMS was not deferred" })
	if got := len(e.Sim.Messages(shop[0], 10)); got != 0 {
		t.Fatalf("a paused application's SMS was sent (%d)", got)
	}
	if c := e.Message(code).Message.Counts; c["queued"] != 1 || c["failed"] != 0 {
		t.Fatalf("paused SMS counts %v, want it queued", harness.NonZero(c))
	}
	operator(t, e, "POST", "/api/v1/admin/applications/"+harness.ShopApp, `{"paused":false}`)
	waitAll(e, []string{code}, "sent", 30*time.Second)

	// The audit: newest first, who, what, before and after.
	audit := operator(t, e, "GET", "/api/v1/admin/audit", "")
	entries := audit["entries"].([]any)
	if len(entries) != 6 {
		t.Fatalf("audit has %d entries, want 6: %v", len(entries), entries)
	}
	last := entries[0].(map[string]any)
	first := entries[len(entries)-1].(map[string]any)
	if last["who"] != "oncall" || last["what"] != "application "+harness.ShopApp || last["before"].(map[string]any)["a:"+harness.ShopApp] != "1" {
		t.Fatalf("newest entry %v", last)
	}
	if first["what"] != "provider sim-b" || first["after"].(map[string]any)["p:sim-b:w"] != "300" || first["at"] == "" {
		t.Fatalf("oldest entry %v", first)
	}

	// Applications see their route (read-only), with the operator's weight.
	var routes struct {
		Providers []struct {
			Name             string   `json:"name"`
			ConfiguredWeight *int     `json:"configured_weight"`
			OperatorWeight   *int     `json:"operator_weight"`
			EffectiveWeight  *float64 `json:"effective_weight"`
		} `json:"providers"`
	}
	if st := e.Native("/api/v1/routes", harness.ShopToken, &routes); st != http.StatusOK {
		t.Fatalf("GET /api/v1/routes: HTTP %d", st)
	}
	if len(routes.Providers) != 2 || routes.Providers[1].Name != "sim-b" || *routes.Providers[1].ConfiguredWeight != 0 ||
		*routes.Providers[1].OperatorWeight != 300 || *routes.Providers[1].EffectiveWeight != 300 {
		t.Fatalf("routes %+v", routes)
	}
}

// retried counts the tasks waiting in the retry sets of the lanes (a
// deferred SMS waits there).
func retried(t testing.TB, insp *asynq.Inspector, e *harness.Env) int {
	n := 0
	for _, q := range e.Config.LaneShards().AllQueues() {
		if info, err := insp.GetQueueInfo(q); err == nil {
			n += info.Retry
		}
	}
	return n
}
