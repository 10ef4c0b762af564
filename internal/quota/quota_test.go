package quota

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

const app = "QUOTA-00001"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newStore(t testing.TB, qs config.Quotas, start time.Time) (*Store, *clock) {
	t.Helper()
	r := testenv.NewRedis(t)
	c := &clock{t: start}
	return NewStore(r.Client(t), func(a string) config.Quotas {
		if a == app {
			return qs
		}
		return config.Quotas{}
	}, c.now), c
}

// TestReserveRefusesPastEachQuota: each quota refuses the SMS that would
// take it past its limit, naming itself and what it had used, and counts
// nothing of a refused SMS.
func TestReserveRefusesPastEachQuota(t *testing.T) {
	start := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		quota config.QuotaKind
		limit int64
		use   Use
		fits  int // SMS reserved before the refusal
		used  int64
	}{
		{config.SMSPerDay, 3, Use{SMS: 1, Segments: 1}, 3, 3},
		{config.SMSPerMonth, 2, Use{SMS: 1, Segments: 5}, 2, 2},
		{config.SegmentsPerDay, 10, Use{SMS: 1, Segments: 3}, 3, 9},
		{config.SegmentsPerMonth, 4, Use{SMS: 1, Segments: 2}, 2, 4},
		{config.MoneyPerDay, 100_000, Use{SMS: 1, Segments: 1, Money: 45_000}, 2, 90_000},
		{config.MoneyPerMonth, 1_000_000, Use{SMS: 1, Segments: 2, Money: 300_000}, 3, 900_000},
	} {
		t.Run(tc.quota.String(), func(t *testing.T) {
			var qs config.Quotas
			qs[tc.quota] = config.Quota{Limit: tc.limit, WarnPercent: 100}
			s, _ := newStore(t, qs, start)
			ctx := context.Background()
			for i := range tc.fits {
				r, err := s.Reserve(ctx, app, fmt.Sprintf("sms-%d", i), tc.use)
				if err != nil || !r.OK {
					t.Fatalf("sms %d: %+v %v", i, r, err)
				}
			}
			r, err := s.Reserve(ctx, app, "sms-over", tc.use)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK || r.Over != tc.quota || r.Used != tc.used || r.Limit != tc.limit {
				t.Fatalf("over: %+v, want refused by %s at %d used", r, tc.quota, tc.used)
			}
			us, err := s.Usage(ctx, app)
			if err != nil || len(us) != 1 || us[0].Used != tc.used {
				t.Fatalf("usage after refusal %+v %v, want %d used", us, err, tc.used)
			}
		})
	}
}

// TestReserveOncePerSMSAndRelease: a retry of a reserved SMS counts
// nothing; a release gives back what was reserved, once, in the periods
// it was reserved in, even after midnight.
func TestReserveOncePerSMSAndRelease(t *testing.T) {
	start := time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)
	qs := config.Quotas{config.SMSPerDay: {Limit: 10, WarnPercent: 100}, config.SegmentsPerMonth: {Limit: 100, WarnPercent: 100}}
	s, c := newStore(t, qs, start)
	ctx := context.Background()
	use := Use{SMS: 1, Segments: 3}
	for range 3 {
		if r, err := s.Reserve(ctx, app, "sms-a", use); err != nil || !r.OK {
			t.Fatalf("%+v %v", r, err)
		}
	}
	if r, _ := s.Reserve(ctx, app, "sms-a", use); !r.Again {
		t.Errorf("the retry was not recognised: %+v", r)
	}
	if _, err := s.Reserve(ctx, app, "sms-b", use); err != nil {
		t.Fatal(err)
	}
	wantUsed(t, s, map[config.QuotaKind]int64{config.SMSPerDay: 2, config.SegmentsPerMonth: 6})
	// April 1st: a new day and a new month; sms-a's release goes to March.
	c.set(start.Add(2 * time.Minute))
	if _, err := s.Reserve(ctx, app, "sms-c", use); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Release(ctx, app, "sms-a"); err != nil {
			t.Fatal(err)
		}
	}
	wantUsed(t, s, map[config.QuotaKind]int64{config.SMSPerDay: 1, config.SegmentsPerMonth: 3})
	c.set(start)
	wantUsed(t, s, map[config.QuotaKind]int64{config.SMSPerDay: 1, config.SegmentsPerMonth: 3})
	if ok, err := s.Release(ctx, app, "never-reserved"); ok || err != nil {
		t.Errorf("release of nothing: %v %v", ok, err)
	}
}

func wantUsed(t *testing.T, s *Store, want map[config.QuotaKind]int64) {
	t.Helper()
	us, err := s.Usage(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Used != want[u.Quota] {
			t.Errorf("%s used %d, want %d", u.Quota, u.Used, want[u.Quota])
		}
	}
}

// TestPeriodsRollOver: days and months are UTC; a new day starts the
// day quotas from zero and keeps the month's; period ends are the next
// UTC midnight and the first of the next month.
func TestPeriodsRollOver(t *testing.T) {
	start := time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("CET", 3600)) // 22:30 UTC
	qs := config.Quotas{config.SMSPerDay: {Limit: 2, WarnPercent: 100}, config.SMSPerMonth: {Limit: 3, WarnPercent: 100}}
	s, c := newStore(t, qs, start)
	ctx := context.Background()
	for i := range 2 {
		if r, _ := s.Reserve(ctx, app, fmt.Sprint("d1-", i), Use{SMS: 1}); !r.OK {
			t.Fatalf("day 1 sms %d refused", i)
		}
	}
	if r, _ := s.Reserve(ctx, app, "d1-x", Use{SMS: 1}); r.OK || r.Over != config.SMSPerDay {
		t.Fatalf("third SMS of the day: %+v", r)
	}
	us, _ := s.Usage(ctx, app)
	if !us[0].PeriodEnd.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) || !us[1].PeriodEnd.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("period ends %v %v", us[0].PeriodEnd, us[1].PeriodEnd)
	}
	// 2027-01-01 00:10 UTC: a new day and a new month.
	c.set(time.Date(2027, 1, 1, 0, 10, 0, 0, time.UTC))
	if r, _ := s.Reserve(ctx, app, "d2-0", Use{SMS: 1}); !r.OK {
		t.Fatalf("first SMS of the new month refused: %+v", r)
	}
	// 2027-01-02 and 03: new days, the month's quota (3) still counts.
	for d := 2; d <= 3; d++ {
		c.set(time.Date(2027, 1, d, 9, 0, 0, 0, time.UTC))
		if r, _ := s.Reserve(ctx, app, fmt.Sprint("d", d), Use{SMS: 1}); !r.OK {
			t.Fatalf("sms of January %d refused: %+v", d, r)
		}
	}
	if r, _ := s.Reserve(ctx, app, "d3-x", Use{SMS: 1}); r.OK || r.Over != config.SMSPerMonth || r.Used != 3 {
		t.Fatalf("fourth SMS of the month: %+v", r)
	}
	us, _ = s.Usage(ctx, app)
	if !us[0].PeriodEnd.Equal(time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)) || !us[1].PeriodEnd.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("period ends %v %v", us[0].PeriodEnd, us[1].PeriodEnd)
	}
}

// TestConcurrentReservationsNeverExceed: 8 goroutines × 25 SMS against a
// limit of 37 segments (2 per SMS): exactly 18 go, and the thresholds'
// warnings are claimed exactly once.
func TestConcurrentReservationsNeverExceed(t *testing.T) {
	qs := config.Quotas{config.SegmentsPerDay: {Limit: 37, WarnPercent: 50}, config.SMSPerMonth: {Limit: 1000, WarnPercent: 1}}
	s, _ := newStore(t, qs, time.Date(2026, 5, 5, 5, 5, 0, 0, time.UTC))
	var ok, refused, warnings atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				r, err := s.Reserve(context.Background(), app, fmt.Sprintf("g%d-%d", g, i), Use{SMS: 1, Segments: 2})
				if err != nil {
					t.Error(err)
					return
				}
				if r.OK {
					ok.Add(1)
				} else {
					refused.Add(1)
				}
				warnings.Add(int64(len(r.Warnings)))
			}
		})
	}
	wg.Wait()
	if ok.Load() != 18 || refused.Load() != 200-18 {
		t.Errorf("%d reserved, %d refused; want 18 and 182", ok.Load(), refused.Load())
	}
	if warnings.Load() != 2 {
		t.Errorf("%d warnings claimed, want 2 (segments_per_day at 50%%, sms_per_month at 1%%)", warnings.Load())
	}
	wantUsed(t, s, map[config.QuotaKind]int64{config.SegmentsPerDay: 36, config.SMSPerMonth: 18})
}

// recorder is a Writer that keeps the records, or fails.
type recorder struct {
	mu   sync.Mutex
	msgs []kafka.Message
	fail bool
}

func (r *recorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return fmt.Errorf("broker down")
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

// TestWarningPublishedOnceAndAgainAfterAFailure: a threshold's warning is
// published once per period; one whose publication failed is emitted by
// the next reservation past the threshold; a new period warns again.
func TestWarningPublishedOnceAndAgainAfterAFailure(t *testing.T) {
	qs := config.Quotas{config.MoneyPerMonth: {Limit: 1_000_000, WarnPercent: 50}}
	start := time.Date(2026, 6, 30, 10, 0, 0, 0, time.UTC)
	s, c := newStore(t, qs, start)
	rec := &recorder{fail: true}
	w := &Warner{Store: s, Writer: rec, Currency: "EUR", Log: zap.NewNop()}
	ctx := context.Background()
	reserve := func(id string) {
		t.Helper()
		r, err := s.Reserve(ctx, app, id, Use{SMS: 1, Segments: 1, Money: 200_000})
		if err != nil || !r.OK {
			t.Fatalf("%s: %+v %v", id, r, err)
		}
		w.Warn(ctx, r.Warnings)
	}
	reserve("a") // 20 %
	reserve("b") // 40 %
	reserve("c") // 60 %: claimed, the write fails, unclaimed
	if len(rec.msgs) != 0 {
		t.Fatal("a failed write kept a record")
	}
	rec.fail = false
	reserve("d") // 80 %: emitted again, published
	reserve("e") // 100 %: already published
	if len(rec.msgs) != 1 {
		t.Fatalf("%d records, want 1", len(rec.msgs))
	}
	m := rec.msgs[0]
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	for k, v := range map[string]string{"content-type": "application/json", "event-type": "quota.warning", "schema-version": "1",
		"ce_id": "quota:" + app + ":money_per_month:202606", "ce_source": CESource, "ce_type": CEType, "ce_specversion": "1.0",
		"ce_time": "2026-06-30T10:00:00Z"} {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}
	want := `{"id":"quota:QUOTA-00001:money_per_month:202606","application":"QUOTA-00001","quota":"money_per_month","period":"202606",` +
		`"period_end":"2026-07-01T00:00:00Z","limit":"1.000000","threshold":"0.500000","warn_percent":50,"unit":"money","currency":"EUR","at":"2026-06-30T10:00:00Z"}`
	if string(m.Value) != want || string(m.Key) != app {
		t.Errorf("record %s = %s\nwant %s", m.Key, m.Value, want)
	}
	// July: a new period, whose threshold warns again.
	c.set(start.Add(24 * time.Hour))
	reserve("f")
	reserve("g")
	reserve("h")
	if len(rec.msgs) != 2 {
		t.Errorf("%d records after July's threshold, want 2", len(rec.msgs))
	}
}
