package traffic_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// TestApplyAuditsEveryChangeBounded: each change bumps the version, is
// audited with who, when, what and the values before and after, and the
// audit keeps only the newest AuditMax entries.
func TestApplyAuditsEveryChangeBounded(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.NewRedis(t).Client(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := traffic.NewStore(rdb, 3, func() time.Time { return at })
	apply := func(c traffic.Change) int64 {
		t.Helper()
		v, err := st.Apply(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := traffic.Change{Who: "oncall", What: "provider sim-a", Set: map[string]string{}}
	traffic.DrainProvider(&c, "sim-a", true)
	w := 250
	traffic.WeightProvider(&c, "sim-a", &w)
	if v := apply(c); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	s, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 || !s.Drained["sim-a"] || s.Weights["sim-a"] != 250 {
		t.Fatalf("state %+v", s)
	}
	c = traffic.Change{Who: "oncall", What: "provider sim-a", Set: map[string]string{}}
	traffic.DrainProvider(&c, "sim-a", false)
	traffic.WeightProvider(&c, "sim-a", nil)
	apply(c)
	for i := range 3 {
		c = traffic.Change{Who: "admin", What: fmt.Sprintf("application A%d", i), Set: map[string]string{}}
		traffic.PauseApp(&c, fmt.Sprintf("A%d", i), true)
		apply(c)
	}
	s, _ = st.Load(ctx)
	if s.Version != 5 || s.Drained["sim-a"] || len(s.Weights) != 0 || len(s.PausedApps) != 3 {
		t.Fatalf("state %+v", s)
	}
	entries, err := st.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("audit holds %d entries, want the bound 3", len(entries))
	}
	if e := entries[0]; e.Version != 5 || e.Who != "admin" || e.What != "application A2" || !e.At.Equal(at) ||
		e.Before["a:A2"] != "" || e.After["a:A2"] != "1" {
		t.Fatalf("newest entry %+v", e)
	}
	// The undrain, trimmed out of the bounded log above, is checked on a
	// log large enough to hold it.
	st2 := traffic.NewStore(rdb, 100, func() time.Time { return at })
	c = traffic.Change{Who: "oncall", What: "provider sim-a", Set: map[string]string{}}
	traffic.DrainProvider(&c, "sim-a", true)
	if _, err := st2.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	entries, _ = st2.Audit(ctx, 1)
	if e := entries[0]; e.Before["p:sim-a:d"] != "" || e.After["p:sim-a:d"] != "1" {
		t.Fatalf("drain entry %+v", e)
	}
}

// TestWatcherAppliesNewVersionsAndReports: a watcher applies a change on
// its next refresh and reports the version it applied.
func TestWatcherAppliesNewVersionsAndReports(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.NewRedis(t).Client(t)
	st := traffic.NewStore(rdb, 10, nil)
	w := traffic.NewWatcher(traffic.WatcherOptions{Store: st, Providers: []string{"sim-a", "sim-b"}})
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Applied() != 0 || w.Drained("sim-a") {
		t.Fatalf("fresh watcher applied %d", w.Applied())
	}
	c := traffic.Change{Who: "admin", What: "provider sim-a", Set: map[string]string{}}
	traffic.DrainProvider(&c, "sim-a", true)
	weight := 7
	traffic.WeightProvider(&c, "sim-b", &weight)
	v, err := st.Apply(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if w.Drained("sim-a") {
		t.Fatal("applied before a refresh")
	}
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := w.Weight("sim-b"); w.Applied() != v || !w.Drained("sim-a") || !ok || got != 7 {
		t.Fatalf("applied %d (want %d), drained %v, weight %d %v", w.Applied(), v, w.Drained("sim-a"), got, ok)
	}
	pods, err := st.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || pods[0].Pod != w.Pod() || pods[0].Version != v {
		t.Fatalf("pods %+v", pods)
	}
}

// TestQualityRule: figures and weight factors over the window, judged on
// an injected clock. The rule (Notify's): more than Threshold of SMS
// without a delivery receipt within Deadline loses weight, in proportion,
// never below Floor; too few SMS are not judged; a receipt after the
// deadline does not count; a replayed receipt counts once.
func TestQualityRule(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.NewRedis(t).Client(t)
	cfg := config.Quality{Enabled: true, Window: 5 * time.Minute, Deadline: 15 * time.Minute, Threshold: 0.15, Floor: 0.05, MinSMS: 10}
	q := traffic.NewQuality(rdb, cfg)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	type plan struct {
		prov             string
		sent, delivered  int
		late, undelivers int
	}
	plans := []plan{
		{prov: "good", sent: 20, delivered: 20},
		{prov: "edge", sent: 20, delivered: 17, undelivers: 3}, // 15 % missing: not above
		{prov: "half", sent: 20, delivered: 10, late: 10},      // late receipts count as missing
		{prov: "dead", sent: 20, undelivers: 20},
		{prov: "few", sent: 5},
	}
	var as []traffic.Accept
	var rs []sms.Receipt
	var lateRs []sms.Receipt
	for _, p := range plans {
		for i := range p.sent {
			ref := fmt.Sprintf("%s-%d", p.prov, i)
			as = append(as, traffic.Accept{Provider: p.prov, Ref: ref, At: t0})
			switch {
			case i < p.delivered:
				rs = append(rs, sms.Receipt{Provider: p.prov, Ref: ref, Status: sms.Delivered, At: t0.Add(2 * time.Second)})
			case i < p.delivered+p.late:
				lateRs = append(lateRs, sms.Receipt{Provider: p.prov, Ref: ref, Status: sms.Delivered, At: t0.Add(20 * time.Minute)})
			case i < p.delivered+p.late+p.undelivers:
				rs = append(rs, sms.Receipt{Provider: p.prov, Ref: ref, Status: sms.Undelivered, At: t0.Add(time.Second)})
			}
		}
	}
	if err := q.Accepted(ctx, as); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second pass is a replay: counted once
		if err := q.Receipts(ctx, rs); err != nil {
			t.Fatal(err)
		}
	}
	// The late receipts come after their clocks ran out (the keys' TTL is
	// the deadline: expired here by deleting them, as Redis would).
	for _, r := range lateRs {
		rdb.Del(ctx, "sf:qr:"+r.Provider+":"+r.Ref)
	}
	if err := q.Receipts(ctx, lateRs); err != nil {
		t.Fatal(err)
	}
	names := []string{"good", "edge", "half", "dead", "few"}
	// Before the deadline has passed nothing is judged.
	figs, err := q.Evaluate(ctx, names, t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if figs[n].Sent != 0 || figs[n].Factor != 1 {
			t.Fatalf("%s judged before its deadline: %+v", n, figs[n])
		}
	}
	judged := t0.Add(cfg.Deadline + time.Minute)
	figs, err = q.Evaluate(ctx, names, judged)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		sent, delivered int64
		factor          float64
	}{
		"good": {20, 20, 1}, "edge": {20, 17, 1}, "half": {20, 10, 0.5 / 0.85}, "dead": {20, 0, 0.05}, "few": {5, 0, 1},
	}
	for n, w := range want {
		f := figs[n]
		if f.Sent != w.sent || f.Delivered != w.delivered || abs(f.Factor-w.factor) > 1e-9 {
			t.Errorf("%s: %+v, want sent %d delivered %d factor %.3f", n, f, w.sent, w.delivered, w.factor)
		}
	}
	if figs["good"].LatencyMS != 2000 {
		t.Errorf("good latency %d ms, want 2000", figs["good"].LatencyMS)
	}
	// Once the window has moved past them, the SMS no longer count: the
	// dead provider is back at full weight until new SMS judge it.
	figs, _ = q.Evaluate(ctx, names, judged.Add(cfg.Window+time.Minute))
	if figs["dead"].Sent != 0 || figs["dead"].Factor != 1 {
		t.Fatalf("dead after the window: %+v", figs["dead"])
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// TestQualityCountsAReceiptThatOvertookItsAcceptance: a receipt can reach
// the consumer before the worker's batch has counted the acceptance; it is
// counted once the acceptance is, exactly once, and a late one is not.
func TestQualityCountsAReceiptThatOvertookItsAcceptance(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.NewRedis(t).Client(t)
	cfg := config.Quality{Enabled: true, Window: 5 * time.Minute, Deadline: time.Minute, Threshold: 0.15, Floor: 0.05, MinSMS: 1}
	q := traffic.NewQuality(rdb, cfg)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	early := []sms.Receipt{
		{Provider: "p", Ref: "a", Status: sms.Delivered, At: t0.Add(time.Second)},
		{Provider: "p", Ref: "b", Status: sms.Undelivered, At: t0.Add(time.Second)},
	}
	for range 2 { // a replayed early receipt changes nothing
		if err := q.Receipts(ctx, early); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Accepted(ctx, []traffic.Accept{{Provider: "p", Ref: "a", At: t0}, {Provider: "p", Ref: "b", At: t0}, {Provider: "p", Ref: "c", At: t0}}); err != nil {
		t.Fatal(err)
	}
	figs, err := q.Evaluate(ctx, []string{"p"}, t0.Add(cfg.Deadline+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if f := figs["p"]; f.Sent != 3 || f.Delivered != 1 || f.LatencyMS != 1000 {
		t.Fatalf("figures %+v, want 3 sent, 1 delivered in 1000 ms", f)
	}
}

// TestWatcherKeepsItsStateWhenRedisIsGone: a pod that cannot read Redis
// keeps applying the last state it read (an outage must not undo a drain)
// and says so with an error.
func TestWatcherKeepsItsStateWhenRedisIsGone(t *testing.T) {
	ctx := context.Background()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := traffic.NewStore(rdb, 10, nil)
	w := traffic.NewWatcher(traffic.WatcherOptions{Store: st, Quality: traffic.NewQuality(rdb, config.Quality{}), Providers: []string{"sim-a"}})
	c := traffic.Change{Who: "admin", What: "provider sim-a", Set: map[string]string{}}
	traffic.DrainProvider(&c, "sim-a", true)
	if _, err := st.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := w.Refresh(ctx); err != nil || !w.Drained("sim-a") {
		t.Fatalf("refresh: %v, drained %v", err, w.Drained("sim-a"))
	}
	r.Stop()
	if err := w.Refresh(ctx); err == nil {
		t.Fatal("a refresh without Redis reported no error")
	}
	if !w.Drained("sim-a") || w.Applied() != 1 {
		t.Fatalf("the drain was lost with Redis: drained %v, version %d", w.Drained("sim-a"), w.Applied())
	}
}

// TestQualityPerCountry: figures are kept per provider × country too; a
// judged country's factor applies to its phones, while a country with too
// few SMS, or none, gets the provider's overall factor.
func TestQualityPerCountry(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.NewRedis(t).Client(t)
	cfg := config.Quality{Enabled: true, Window: 5 * time.Minute, Deadline: time.Minute, Threshold: 0.15, Floor: 0.05, MinSMS: 10}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	q := traffic.NewQuality(rdb, cfg)
	w := traffic.NewWatcher(traffic.WatcherOptions{Store: traffic.NewStore(rdb, 10, nil), Quality: q, Providers: []string{"p"},
		UseQuality: true, Now: func() time.Time { return now }})
	var as []traffic.Accept
	var rs []sms.Receipt
	add := func(country string, n int, delivered bool) {
		for i := range n {
			ref := fmt.Sprintf("%s-%d", country, i)
			as = append(as, traffic.Accept{Provider: "p", Ref: ref, Country: country, At: t0})
			st := sms.Undelivered
			if delivered {
				st = sms.Delivered
			}
			rs = append(rs, sms.Receipt{Provider: "p", Ref: ref, Status: st, At: t0.Add(time.Second)})
		}
	}
	add("DE", 20, true)
	add("NG", 20, false)
	add("FR", 3, false) // too few to judge France on its own
	if err := q.Accepted(ctx, as); err != nil {
		t.Fatal(err)
	}
	if err := q.Receipts(ctx, rs); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(cfg.Deadline + time.Minute)
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	overall := (20.0 / 43) / (1 - cfg.Threshold)
	tests := []struct {
		country string
		want    float64
	}{
		{"DE", 1}, {"NG", cfg.Floor}, {"FR", overall}, {"US", overall}, {"", overall},
	}
	for _, tt := range tests {
		if got := w.Factor("p", tt.country); abs(got-tt.want) > 1e-9 {
			t.Errorf("factor for %q: %v, want %v", tt.country, got, tt.want)
		}
	}
	f := w.Figures()["p"]
	if f.Sent != 43 || f.Delivered != 20 || f.Countries["NG"].Sent != 20 || f.Countries["NG"].Delivered != 0 || f.Countries["FR"].Judged {
		t.Fatalf("figures %+v", f)
	}
}
