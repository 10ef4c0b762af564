package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

func TestSettleSentRecordsProviderAndRefAndCountsOnce(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000050"
	id := f.create(msg{}, phone)
	it := f.delivered(id, phone)
	// An asynq redelivery may settle the same run again: counted once.
	for range 2 {
		if err := f.s.settle(f.ctx, it); err != nil {
			t.Fatalf("settle: %v", err)
		}
	}
	checkSentRecord(t, f, id)
	if c := f.counts(id); c[sms.Sent] != 1 || c[sms.Sending] != 0 || c[sms.Queued] != 0 {
		t.Fatalf("counts %v, want sent 1", c)
	}
	m, err := f.st.GetMessage(f.ctx, "", sms.MessageCodeOf(id))
	if err != nil || m.Hourly["send"][t0.Format("2006010215")] != 1 || m.Segments != 1 {
		t.Fatalf("message %+v %v, want one send and one segment counted", m, err)
	}
	if n := a.calls.Load(); n != 1 {
		t.Fatalf("provider calls %d", n)
	}
}

// checkSentRecord checks that the SMS id is recorded sent by provider a
// with its ref, one attempt of one GSM-7 segment, and one history entry.
func checkSentRecord(t *testing.T, f *fixture, id string) {
	t.Helper()
	r := f.rec(id)
	if r.Status != sms.Sent || r.Provider != "a" || r.ProviderRef != refOf("a", id) || r.Attempts != 1 || r.Segments != 1 || r.Encoding != sms.GSM7 || r.Error != "" {
		t.Fatalf("record %+v", r)
	}
	if len(r.History) != 1 || r.History[0].Provider != "a" || r.History[0].Outcome != "sent" || !r.History[0].At.Equal(t0) {
		t.Fatalf("history %+v", r.History)
	}
}

func TestSettleTransientWithAttemptsLeftIsRetried(t *testing.T) {
	for _, c := range []struct {
		name      string
		a         answer
		ambiguous bool
		outcomes  string
		provider  string
	}{
		{"clean 5xx everywhere", answerDown, false, "a:transient,b:transient", "b"},
		{"ambiguous timeout", answerHang, true, "a:transient", "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := newStub(t, "a", c.a, 200*time.Millisecond), newStub(t, "b", answerDown, 0)
			f := newFixture(t, providers(a, b)...)
			const phone = "+4915112000051"
			id := f.create(msg{}, phone)
			err := f.s.settle(f.ctx, f.delivered(id, phone))
			var d *Deferred
			if err == nil || errors.As(err, &d) {
				t.Fatalf("settle = %v, want a plain error for asynq to retry", err)
			}
			if !strings.HasPrefix(err.Error(), c.provider+": transient") {
				t.Fatalf("error %q, want the last failure of %s", err, c.provider)
			}
			r := f.rec(id)
			if r.Status != sms.Sending || r.Attempts != 1 || r.Provider != c.provider || !strings.HasPrefix(r.Error, c.provider+": transient") {
				t.Fatalf("record %+v, want sending after 1 attempt at %s", r, c.provider)
			}
			if got := attemptOutcomes(r.History); got != c.outcomes {
				t.Fatalf("history %s, want %s", got, c.outcomes)
			}
			l, ok, lerr := f.st.LoadSMS(f.ctx, id)
			if lerr != nil || !ok || l.LastProvider != c.provider || l.LastAmbiguous != c.ambiguous {
				t.Fatalf("loaded %+v %v: want last provider %s, amb %v", l, lerr, c.provider, c.ambiguous)
			}
		})
	}
}

func TestSettleLastAttemptFails(t *testing.T) {
	for _, c := range []struct {
		name        string
		maxAttempts int
		retries     func(context.Context) (int, int)
	}{
		{"attempts used up", 1, func(context.Context) (int, int) { return 0, 25 }},
		{"asynq's retries used up", 3, func(context.Context) (int, int) { return 25, 25 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newStub(t, "a", answerDown, 0)
			f := newFixture(t, providers(a)...)
			f.s.MaxAttempts, f.s.retries = c.maxAttempts, c.retries
			const phone = "+4915112000052"
			id := f.create(msg{}, phone)
			wantFailedForGood(t, f.s.settle(f.ctx, f.delivered(id, phone)), id)
			r := f.rec(id)
			if r.Status != sms.Failed || r.Provider != "a" || !strings.Contains(r.Error, "20500") || r.Attempts != 1 || attemptOutcomes(r.History) != "a:transient" {
				t.Fatalf("record %+v", r)
			}
			if cn := f.counts(id); cn[sms.Failed] != 1 || cn[sms.Sending] != 0 {
				t.Fatalf("counts %v", cn)
			}
		})
	}
}

func TestSettlePermanentFailsAtOnce(t *testing.T) {
	a, b := newStub(t, "a", answerReject, 0), newStub(t, "b", answerOK, 0)
	f := newFixture(t, providers(a, b)...)
	const phone = "+4915112000053"
	id := f.create(msg{}, phone)
	wantFailedForGood(t, f.s.settle(f.ctx, f.delivered(id, phone)), id)
	r := f.rec(id)
	if r.Status != sms.Failed || r.Provider != "a" || !strings.Contains(r.Error, "21211") || r.Attempts != 1 || attemptOutcomes(r.History) != "a:permanent" {
		t.Fatalf("record %+v, want failed by a's 21211 on the first of 3 attempts", r)
	}
	if b.calls.Load() != 0 {
		t.Fatal("a permanent rejection failed over")
	}
}

func TestSettleNothingCalledUnbeginsAndDefers(t *testing.T) {
	t.Run("breakers opened after admit", func(t *testing.T) {
		a, b := newStub(t, "a", answerOK, 0), newStub(t, "b", answerOK, 0)
		f := newFixtureBreaker(t, quickBreaker(), providers(a, b)...)
		const phone = "+4915112000054"
		id := f.create(msg{}, phone)
		items := f.upTo(ref(id, phone))
		f.trip(a, b) // one call each, before the SMS's
		f.s.deliver(f.ctx, live(items))
		it := items[0]
		if it.sent.called != 0 || it.began.Attempts != 1 {
			t.Fatalf("called %d, began %+v", it.sent.called, it.began)
		}
		err := f.s.settle(f.ctx, it)
		var d *Deferred
		if !errors.As(err, &d) {
			t.Fatalf("settle = %v, want *Deferred", err)
		}
		if r := f.rec(id); r.Attempts != 0 || r.Status != sms.Sending || len(r.History) != 0 {
			t.Fatalf("record %+v, want the attempt taken back and no history", r)
		}
		if a.calls.Load() != 1 || b.calls.Load() != 1 {
			t.Fatalf("calls a=%d b=%d, want only the trips", a.calls.Load(), b.calls.Load())
		}
	})
	t.Run("every provider throttled", func(t *testing.T) {
		a, b := newStub(t, "a", answerThrottle, 0), newStub(t, "b", answerThrottle, 0)
		f := newFixture(t, providers(a, b)...)
		const phone = "+4915112000055"
		id := f.create(msg{}, phone)
		err := f.s.settle(f.ctx, f.delivered(id, phone))
		var d *Deferred
		if !errors.As(err, &d) {
			t.Fatalf("settle = %v, want *Deferred", err)
		}
		r := f.rec(id)
		if r.Attempts != 0 || r.Status != sms.Sending || attemptOutcomes(r.History) != "a:throttled,b:throttled" {
			t.Fatalf("record %+v, want no attempt counted and both throttles in the history", r)
		}
		if l, _, _ := f.st.LoadSMS(f.ctx, id); l.LastAmbiguous {
			t.Fatal("a throttle was recorded as ambiguous")
		}
	})
}

func TestSettleMarketingFailureReleasesItsFrequencySlot(t *testing.T) {
	a := newStub(t, "a", answerReject, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000056"
	f.consenting(phone)
	capped := msg{typ: sms.Marketing, cappingDays: 1, cappingCount: 1}
	first := f.create(capped, phone)
	wantFailedForGood(t, f.s.settle(f.ctx, f.delivered(first, phone)), first)
	if r := f.rec(first); r.Status != sms.Failed {
		t.Fatalf("first %+v, want failed", r)
	}
	// The failed SMS never reached the phone: the next one is not capped.
	a.set(answerOK)
	second := f.create(capped, phone)
	it := f.delivered(second, phone)
	if it.began.Capped || it.sent.res.Provider != "a" {
		t.Fatalf("second: began %+v result %+v, want sent (the slot was released)", it.began, it.sent.res)
	}
	if err := f.s.settle(f.ctx, it); err != nil {
		t.Fatal(err)
	}
	if r := f.rec(second); r.Status != sms.Sent {
		t.Fatalf("second %+v, want sent", r)
	}
}
