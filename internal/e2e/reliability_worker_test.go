package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// hangingProvider is a Twilio-style provider as a real HTTP server. While
// hang is set it reads each request and never answers (the client's
// timeout ends the call: it may have accepted the SMS); otherwise it
// accepts, counting acceptances per idempotency key.
type hangingProvider struct {
	srv   *httptest.Server
	hang  atomic.Bool
	calls atomic.Int64
	mu    sync.Mutex
	got   map[string]int
}

func newHangingProvider(t *testing.T) *hangingProvider {
	p := &hangingProvider{got: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		p.calls.Add(1)
		if p.hang.Load() {
			<-r.Context().Done()
			return
		}
		key := r.Header.Get("Idempotency-Key")
		p.mu.Lock()
		p.got[key]++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"sid":"SM-%s"}`, key)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *hangingProvider) accepted() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.got))
	for k, v := range p.got {
		out[k] = v
	}
	return out
}

// Issue 12, item 1: sim-a hangs past the client's timeout (route sim-a,
// sim-b). Its breaker opens, but the SMS whose attempt timed out there
// must not go to sim-b: it waits for sim-a and is sent once by sim-a when
// it answers again.
func TestHangingProviderNeverMakesFailoverDoubleSend(t *testing.T) {
	e := harness.New(t, func(c *config.Config, r *fleet.Roles) {
		twoProviders("sim-a", "sim-b")(c, r)
		c.Breaker = config.Breaker{Window: 2 * time.Second, MinRequests: 1, FailureRatio: 0.5, OpenTimeout: 200 * time.Millisecond, Probes: 1, ConsecutiveFailures: 1}
		r.Worker = false
	})
	a, b := newHangingProvider(t), newHangingProvider(t)
	a.hang.Store(true)
	client := func(name string, p *hangingProvider) provider.Provider {
		return provider.NewTwilio(provider.TwilioConfig{Name: name, BaseURL: p.srv.URL, AccountSID: "ACtest", AuthToken: "token", Timeout: 300 * time.Millisecond}, nil)
	}
	harness.StartWorker(t, e, client("sim-a", a), client("sim-b", b))
	to := harness.Phones(4500, 5)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	codes := sendMany(e, to, nil)
	ids := make([]string, len(to))
	for i, c := range codes {
		ids[i] = harness.SMSID(t, e.Fleet.Store(), c, to[i])
	}
	// Count, not time: every SMS timed out at sim-a, and sim-a has since
	// been asked again (its half-open probes) several times.
	harness.Eventually(t, time.Minute, func() bool {
		for _, id := range ids {
			l, ok, err := e.Fleet.Store().LoadSMS(t.Context(), id)
			if err != nil || !ok || !l.LastAmbiguous || l.LastProvider != "sim-a" {
				return false
			}
		}
		return a.calls.Load() >= int64(len(ids))+5
	}, func() string { return fmt.Sprintf("sim-a called %d times", a.calls.Load()) })
	if n := b.calls.Load(); n != 0 {
		t.Fatalf("sim-b was called %d times while sim-a hung: an SMS that sim-a may have failed over", n)
	}
	for _, c := range codes {
		if v := e.Message(c); v.Message.Counts["failed"] != 0 || v.Message.Counts["sent"] != 0 {
			t.Fatalf("while sim-a hangs: %v", harness.NonZero(v.Message.Counts))
		}
	}
	a.hang.Store(false)
	waitAll(e, codes, "sent", time.Minute)
	got := a.accepted()
	for i, id := range ids {
		if got[id] != 1 {
			t.Fatalf("sim-a accepted %s %d times, want once", id, got[id])
		}
		if r := e.Message(codes[i]).Recipients[0]; r.Provider != "sim-a" {
			t.Fatalf("%s sent by %s", id, r.Provider)
		}
	}
	if n := b.calls.Load(); n != 0 {
		t.Fatalf("sim-b was called %d times", n)
	}
}
