package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// down is a provider that always answers 503 and counts the calls.
func down(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"maintenance","code":"30001"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestTransientErrorsFailAfterMaxAttempts(t *testing.T) {
	tests := []struct {
		name string
		// crashed is how many attempts died with their worker before any
		// worker got to the provider (each claim counts one).
		crashed   int
		wantCalls int64
	}{
		{"every attempt reaches the provider", 0, 4},
		{"attempts lost in crashes still count", 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := harness.New(t, func(c *config.Config, r *fleet.Roles) { r.Worker = false; c.Worker.MaxAttempts = 4 })
			to := harness.Phones(900, 1)[0]
			e.Register(harness.ShopApp, harness.ShopToken, to)
			code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{to}})
			id := harness.SMSID(t, e.Fleet.Store(), code, to)
			for range tt.crashed {
				harness.Claim(t, e.Fleet.Store(), id)
			}
			srv, calls := down(t)
			harness.StartWorker(t, e, provider.NewSimulator("flaky", srv.URL+"/simulator", nil))
			v := e.WaitCounts(code, map[string]int64{"failed": 1}, 10*time.Second)
			r := v.Recipients[0]
			if r.Attempts != 4 || !strings.Contains(r.Error, "maintenance") || r.Provider != "flaky" {
				t.Fatalf("recipient %+v, want failed after 4 attempts with the provider's last error", r)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Fatalf("provider called %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}
