package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/ratelimit"
)

// attemptOutcomes are the attempt records' "provider:outcome", in order.
func attemptOutcomes(recs []store.Attempt) string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Provider + ":" + r.Outcome
	}
	return strings.Join(out, ",")
}

func TestDeliver(t *testing.T) {
	for _, c := range []deliverCase{
		{name: "first provider OK: sent via it", a: answerOK, b: answerOK,
			callsA: 1, callsB: 0, sentBy: "a", records: "a:sent", called: 1},
		{name: "first 5xx (clean): fails over to the second", a: answerDown, b: answerOK,
			callsA: 1, callsB: 1, sentBy: "b", records: "a:transient,b:sent", called: 2, transient: true},
		{name: "ambiguous timeout: no failover", a: answerHang, b: answerOK,
			callsA: 1, callsB: 0, records: "a:transient", failedBy: "a", class: provider.Transient, ambiguous: true, transient: true, called: 1},
		{name: "permanent rejection: stop", a: answerReject, b: answerOK,
			callsA: 1, callsB: 0, records: "a:permanent", failedBy: "a", class: provider.Permanent, called: 1},
		{name: "throttled: the next provider takes it", a: answerThrottle, b: answerOK,
			callsA: 1, callsB: 1, sentBy: "b", records: "a:throttled,b:sent", called: 2, throttledBy: "a"},
		{name: "every provider throttles", a: answerThrottle, b: answerThrottle,
			callsA: 1, callsB: 1, records: "a:throttled,b:throttled", failedBy: "b", class: provider.Throttled, called: 2, throttledBy: "a,b"},
		{name: "every provider down", a: answerDown, b: answerDown,
			callsA: 1, callsB: 1, records: "a:transient,b:transient", failedBy: "b", class: provider.Transient, called: 2, transient: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := newStub(t, "a", c.a, 200*time.Millisecond), newStub(t, "b", c.b, 0)
			f := newFixture(t, providers(a, b)...)
			const phone = "+4915112000040"
			id := f.create(msg{sender: "Shop"}, phone)
			it := f.delivered(id, phone)

			if it.verdict.fate != fateSent || it.err != nil {
				t.Fatalf("fate %v err %v, want fateSent", it.verdict.fate, it.err)
			}
			if a.calls.Load() != c.callsA || b.calls.Load() != c.callsB {
				t.Fatalf("calls a=%d b=%d, want %d and %d", a.calls.Load(), b.calls.Load(), c.callsA, c.callsB)
			}
			out := it.sent
			if got := attemptOutcomes(out.records); got != c.records {
				t.Fatalf("records %s, want %s", got, c.records)
			}
			if out.called != c.called || out.transient != c.transient || strings.Join(out.throttledBy, ",") != c.throttledBy {
				t.Fatalf("called %d transient %v throttledBy %v, want %d %v %q", out.called, out.transient, out.throttledBy, c.called, c.transient, c.throttledBy)
			}
			checkDeliverOutcome(t, c, out, map[string]*stub{"a": a, "b": b}, id, phone)
			// deliver began the SMS: one attempt counted, sending.
			if it.began.Attempts != 1 {
				t.Fatalf("began %+v", it.began)
			}
			if r := f.rec(id); r.Status != sms.Sending || r.Attempts != 1 {
				t.Fatalf("record %s with %d attempts, want sending with 1", r.Status, r.Attempts)
			}
		})
	}
}

// deliverCase is one case of TestDeliver.
type deliverCase struct {
	name string
	a, b answer
	// want: calls each provider received, who took it ("" for nobody),
	// the attempt records, and the last failure's class.
	callsA, callsB int64
	sentBy         string
	records        string
	failedBy       string
	class          provider.Class
	ambiguous      bool
	transient      bool
	called         int
	throttledBy    string
}

// checkDeliverOutcome checks out against c: sent by c.sentBy, which
// received the SMS id to phone as it is, or failed by c.failedBy with
// c's class and ambiguity.
func checkDeliverOutcome(t *testing.T, c deliverCase, out sendResult, stubs map[string]*stub, id, phone string) {
	t.Helper()
	if c.sentBy != "" {
		if out.err != nil || out.res.Provider != c.sentBy || out.res.Ref != refOf(c.sentBy, id) {
			t.Fatalf("result %+v err %v, want sent by %s", out.res, out.err, c.sentBy)
		}
		got := stubs[c.sentBy].received()
		if len(got) != 1 || got[0] != (provider.Request{ID: id, To: phone, From: "Shop", Text: "hi"}) {
			t.Fatalf("%s received %+v", c.sentBy, got)
		}
	} else {
		if out.err == nil || out.provider != c.failedBy || provider.ClassOf(out.err) != c.class || provider.IsAmbiguous(out.err) != c.ambiguous {
			t.Fatalf("failure %v by %q (class %v, ambiguous %v), want by %s class %v ambiguous %v",
				out.err, out.provider, provider.ClassOf(out.err), provider.IsAmbiguous(out.err), c.failedBy, c.class, c.ambiguous)
		}
	}
}

func TestDeliverSkipsAnOpenBreaker(t *testing.T) {
	a, b := newStub(t, "a", answerOK, 0), newStub(t, "b", answerOK, 0)
	f := newFixtureBreaker(t, quickBreaker(), providers(a, b)...)
	f.trip(a)
	const phone = "+4915112000041"
	id := f.create(msg{}, phone)
	it := f.delivered(id, phone)
	if a.calls.Load() != 1 || b.calls.Load() != 1 || it.sent.res.Provider != "b" || it.sent.called != 1 || attemptOutcomes(it.sent.records) != "b:sent" {
		t.Fatalf("calls a=%d (1 was the trip) b=%d, result %+v records %s", a.calls.Load(), b.calls.Load(), it.sent.res, attemptOutcomes(it.sent.records))
	}
}

func TestDeliverLowersTheRateOfAThrottlingProvider(t *testing.T) {
	a, b := newStub(t, "a", answerThrottle, 0), newStub(t, "b", answerOK, 0)
	f := newFixture(t, providers(a, b)...)
	rates := f.withRates("DE:T-Mobile=100")
	const phone = "+4915112000042"
	id := f.create(msg{}, phone)
	it := f.delivered(id, phone)
	if it.sent.res.Provider != "b" || strings.Join(it.sent.throttledBy, ",") != "a" {
		t.Fatalf("result %+v throttledBy %v", it.sent.res, it.sent.throttledBy)
	}
	key, lim, ok := rates.Limits.For("a", it.op)
	if !ok {
		t.Fatal("no limit for DE:T-Mobile")
	}
	st, err := rates.Limiter.Status(f.ctx, []string{key}, []ratelimit.Limit{lim})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].EffectiveRate >= lim.Rate {
		t.Fatalf("effective rate %v after a throttle, want below the configured %v", st[0].EffectiveRate, lim.Rate)
	}
}

func TestDeliverFrequencyCapSuppresses(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000043"
	f.consenting(phone)
	capped := msg{typ: sms.Marketing, cappingDays: 1, cappingCount: 1}
	first := f.create(capped, phone)
	if it := f.delivered(first, phone); it.sent.res.Provider != "a" {
		t.Fatalf("first marketing SMS: %+v %v", it.sent.res, it.sent.err)
	}
	second := f.create(capped, phone)
	it := f.delivered(second, phone)
	if it.verdict.fate != fateHeld || it.err != nil || !it.began.Capped {
		t.Fatalf("second: fate %v err %v began %+v, want held and capped", it.verdict.fate, it.err, it.began)
	}
	if n := a.calls.Load(); n != 1 {
		t.Fatalf("provider calls %d, want 1 (the capped SMS is not sent)", n)
	}
	if err := f.s.settle(f.ctx, it); err != nil {
		t.Fatalf("settle of a capped SMS: %v", err)
	}
	if r := f.rec(second); r.Status != sms.Suppressed || r.Reason != "frequency_cap" {
		t.Fatalf("capped record %+v, want suppressed frequency_cap", r)
	}
}

func TestDeliverSendsNothingForAnSMSCanceledAfterLoad(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000044"
	id := f.create(msg{}, phone)
	items := f.upTo(ref(id, phone))
	m, err := f.st.GetMessage(f.ctx, "", sms.MessageCodeOf(id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CancelMessage(f.ctx, m); err != nil {
		t.Fatal(err)
	}
	f.s.deliver(f.ctx, live(items))
	it := items[0]
	if it.verdict.fate != fateHeld || it.err != nil || it.began.OK || a.calls.Load() != 0 {
		t.Fatalf("fate %v err %v began %+v calls %d, want held, not begun, nothing sent", it.verdict.fate, it.err, it.began, a.calls.Load())
	}
	if err := f.s.settle(f.ctx, it); err != nil {
		t.Fatal(err)
	}
	if r := f.rec(id); r.Status != sms.Canceled || r.Attempts != 0 {
		t.Fatalf("record %+v, want canceled without an attempt", r)
	}
}
