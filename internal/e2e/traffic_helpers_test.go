package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// adminToken is the operator token of the traffic tests' fleets.
const adminToken = "e2e-admin-token-0123456789"

// withAdmin sets the operator token and a quick poll.
func withAdmin(poll time.Duration) func(*config.Config, *fleet.Roles) {
	return func(c *config.Config, _ *fleet.Roles) {
		c.Admin.Token, c.Admin.Poll = adminToken, poll
	}
}

// adminCall sends an operator API request with the Authorization header
// auth ("" for none) and returns the status and the decoded body.
func adminCall(t testing.TB, e *harness.Env, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, e.API.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// operator is adminCall with the admin token, failing unless 200.
func operator(t testing.TB, e *harness.Env, method, path, body string) map[string]any {
	t.Helper()
	st, out := adminCall(t, e, method, path, "Bearer "+adminToken, body)
	if st != http.StatusOK {
		t.Fatalf("%s %s %s: HTTP %d %v", method, path, body, st, out)
	}
	return out
}

// providersView is GET /api/v1/admin/providers.
type providersView struct {
	Version   int64 `json:"version"`
	Providers []struct {
		Name            string          `json:"name"`
		Drained         bool            `json:"drained"`
		OperatorWeight  *int            `json:"operator_weight"`
		EffectiveWeight *float64        `json:"effective_weight"`
		Quality         traffic.Figures `json:"quality"`
	} `json:"providers"`
	Pods []traffic.PodReport `json:"pods"`
}

func getProviders(t testing.TB, e *harness.Env) providersView {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.API.URL+"/api/v1/admin/providers", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v providersView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET providers: HTTP %d %v", resp.StatusCode, err)
	}
	return v
}

// allPodsApplied reports whether pods worker processes report, each
// having applied version v (and, when qualityAt is set, a quality
// evaluation at or after it).
func allPodsApplied(v providersView, pods int, version int64, qualityAt time.Time) bool {
	if len(v.Pods) < pods {
		return false
	}
	for _, p := range v.Pods {
		if p.Version < version || (!qualityAt.IsZero() && p.QualityAt < qualityAt.UnixMilli()) {
			return false
		}
	}
	return true
}
