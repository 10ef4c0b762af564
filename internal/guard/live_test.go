package guard

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// TestRateCountsRequests: a burst of requests passes, the next is refused
// with the limit named and a wait; another application has its own bucket.
// The rate is tiny so no token comes back while the test runs: it counts,
// it does not time.
func TestRateCountsRequests(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	ctx := context.Background()
	r := NewRate(rdb)
	rules := rulesOf(config.Guards{Rate: 0.001, Burst: 3})
	for i := range 3 {
		ref, _, err := r.Take(ctx, "SHOP1-00001", rules)
		if err != nil || ref != nil {
			t.Fatalf("request %d: %v %v", i, ref, err)
		}
	}
	ref, wait, err := r.Take(ctx, "SHOP1-00001", rules)
	if err != nil || ref == nil {
		t.Fatalf("request over the burst: %v %v", ref, err)
	}
	if ref.Rule != RuleRate || wait <= 0 || !contains(ref.Msg, "guards.rate 0.001 requests per second, guards.burst 3") {
		t.Fatalf("refusal %+v wait %v", ref, wait)
	}
	if ref, _, _ := r.Take(ctx, "BANK0-00002", rules); ref != nil {
		t.Fatalf("another application refused: %v", ref)
	}
	if ref, _, _ := r.Take(ctx, "SHOP1-00001", rulesOf(config.Guards{})); ref != nil {
		t.Fatalf("no rate configured, refused: %v", ref)
	}
}

// TestLiveOverrides: an override written to the traffic state (as the
// operator API does) is applied at the next refresh, over the configured
// guards, and removing it brings the configured ones back.
func TestLiveOverrides(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	ctx := context.Background()
	st := traffic.NewStore(rdb, 10, nil)
	configured := config.Guards{Countries: []string{"GB"}, DeniedRanges: []string{"+449"}, Rate: 5}
	l := NewLive(LiveOptions{Store: st, Configured: func(string) config.Guards { return configured }})
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.Rules("SHOP1-00001"); got.Rate != 5 || len(got.Countries) != 1 {
		t.Fatalf("configured rules %+v", got)
	}
	over, _ := json.Marshal(config.Guards{Countries: []string{"GB", "FR"}, DeniedRanges: []string{"+3389"}, Rate: 1})
	set := func(v string) {
		if _, err := st.Apply(ctx, traffic.Change{Who: "test", What: "guards", Set: map[string]string{Field("SHOP1-00001"): v}}); err != nil {
			t.Fatal(err)
		}
		if err := l.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	set(string(over))
	got := l.Rules("SHOP1-00001")
	if got.Rate != 1 || len(got.Countries) != 2 || len(got.DeniedRanges) != 2 {
		t.Fatalf("overridden rules %+v, want rate 1, two countries, both denied ranges", got)
	}
	if other := l.Rules("BANK0-00002"); other.Rate != 5 {
		t.Fatalf("another application took the override: %+v", other)
	}
	stored, err := l.ReadOverride(ctx, "SHOP1-00001")
	if err != nil || stored.Rate != 1 {
		t.Fatalf("read override %+v %v", stored, err)
	}
	set("")
	if got := l.Rules("SHOP1-00001"); got.Rate != 5 || len(got.Countries) != 1 {
		t.Fatalf("after removal %+v", got)
	}
	audit, err := st.Audit(ctx, 10)
	if err != nil || len(audit) != 2 {
		t.Fatalf("audit %v %v, want both changes", audit, err)
	}
}
