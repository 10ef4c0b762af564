package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/quota"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// withQuotas gives the fixture's application qs, enforced by the sender.
func (f *fixture) withQuotas(qs config.Quotas) *quota.Store {
	st := quota.NewStore(f.redis.Client(f.t), func(string) config.Quotas { return qs }, func() time.Time { return t0 })
	f.s.Quotas = &Quotas{Store: st}
	return st
}

// used is what the fixture's application used of quota k.
func used(t *testing.T, f *fixture, st *quota.Store, k config.QuotaKind) int64 {
	t.Helper()
	us, err := st.Usage(f.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Quota == k {
			return u.Used
		}
	}
	t.Fatalf("no quota %s", k)
	return 0
}

// TestQuotaAtSend: each SMS past a quota is suppressed with quota_<name>
// and never reaches a provider; money is reserved at the dearest price of
// the route (a failover could take the SMS there).
func TestQuotaAtSend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		quota   config.QuotaKind
		limit   int64
		content string
		sent    int
		used    int64
	}{
		{"sms per day", config.SMSPerDay, 2, `"hi"`, 2, 2},
		{"segments per month", config.SegmentsPerMonth, 5, `"` + strings.Repeat("x", 161) + `"`, 2, 4}, // 2 segments each
		{"budget at the dearer provider", config.MoneyPerMonth, 200_000, `"hi"`, 2, 160_000},           // 0.08 each, not 0.05
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newStub(t, "a", answerOK, 0), newStub(t, "b", answerOK, 0)
			f := newFixture(t, providers(a, b)...)
			f.s.Prices = config.PriceTable{"a": {"*": 50_000}, "b": {"DE": 80_000}}
			var qs config.Quotas
			qs[tc.quota] = config.Quota{Limit: tc.limit, WarnPercent: 100}
			st := f.withQuotas(qs)
			for i := range 3 {
				phone := "+49151120001" + string(rune('0'+i)) + "0"
				id := f.create(msg{content: tc.content}, phone)
				if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err != nil {
					t.Fatal(err)
				}
				r := f.rec(id)
				switch {
				case i < tc.sent && r.Status != sms.Sent:
					t.Errorf("sms %d: %s %q, want sent", i, r.Status, r.Reason)
				case i >= tc.sent && (r.Status != sms.Suppressed || r.Reason != "quota_"+tc.quota.String()):
					t.Errorf("sms %d: %s %q, want suppressed quota_%s", i, r.Status, r.Reason, tc.quota)
				}
			}
			if calls := a.calls.Load() + b.calls.Load(); calls != int64(tc.sent) {
				t.Errorf("%d provider calls, want %d", calls, tc.sent)
			}
			if u := used(t, f, st, tc.quota); u != tc.used {
				t.Errorf("%s used %d, want %d", tc.quota, u, tc.used)
			}
		})
	}
}

// TestQuotaCountsAttemptsOnce: a retried SMS is counted once; an SMS
// Begin refuses (its frequency cap) gives its reservation back.
func TestQuotaCountsAttemptsOnce(t *testing.T) {
	a := newStub(t, "a", answerDown, 0)
	f := newFixture(t, providers(a)...)
	st := f.withQuotas(config.Quotas{config.SMSPerDay: {Limit: 10, WarnPercent: 100}})
	const phone = "+4915112000070"
	f.consenting(phone)
	capped := msg{typ: sms.Marketing, cappingDays: 1, cappingCount: 1}
	id := f.create(capped, phone)
	if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Marketing)); err == nil {
		t.Fatal("a transient failure was not retried")
	}
	a.set(answerOK)
	if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Marketing)); err != nil || f.rec(id).Status != sms.Sent {
		t.Fatalf("retry: %v %s", err, f.rec(id).Status)
	}
	if u := used(t, f, st, config.SMSPerDay); u != 1 {
		t.Fatalf("a retried SMS counted %d times", u)
	}
	second := f.create(capped, phone)
	if err := f.s.ProcessTask(f.ctx, task(second, phone, sms.Marketing)); err != nil {
		t.Fatal(err)
	}
	if r := f.rec(second); r.Status != sms.Suppressed || r.Reason != "frequency_cap" {
		t.Fatalf("second marketing SMS: %s %q, want suppressed by its frequency cap", r.Status, r.Reason)
	}
	if u := used(t, f, st, config.SMSPerDay); u != 1 {
		t.Errorf("the capped SMS kept its reservation: %d used, want 1", u)
	}
}
