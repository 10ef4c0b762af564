package worker

import (
	"errors"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

func memberNames(it *item) string {
	names := make([]string, len(it.cands))
	for i, m := range it.cands {
		names[i] = m.Name()
	}
	return strings.Join(names, ",")
}

func TestAdmitWaitsWithoutAnAttemptWhenEveryBreakerIsOpen(t *testing.T) {
	for _, c := range []struct {
		name     string
		open     []string
		wantFate fate
	}{
		{"every breaker open", []string{"a", "b"}, fateWait},
		{"first open, second closed", []string{"a"}, fateSend},
		{"all closed", nil, fateSend},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := newStub(t, "a", answerOK, 0), newStub(t, "b", answerOK, 0)
			f := newFixtureBreaker(t, quickBreaker(), providers(a, b)...)
			for _, p := range []*stub{a, b} {
				for _, o := range c.open {
					if p.name == o {
						f.trip(p)
					}
				}
			}
			callsBefore := a.calls.Load() + b.calls.Load()
			const phone = "+4915112000030"
			id := f.create(msg{}, phone)
			it := f.upTo(ref(id, phone))[0]
			if it.verdict.fate != c.wantFate || it.err != nil || memberNames(it) != "a,b" {
				t.Fatalf("fate %v err %v candidates %s, want %v with a,b", it.verdict.fate, it.err, memberNames(it), c.wantFate)
			}
			if n := a.calls.Load() + b.calls.Load(); n != callsBefore {
				t.Fatalf("admit called a provider: %d calls, want %d", n, callsBefore)
			}
			if c.wantFate != fateWait {
				return
			}
			err := f.s.settle(f.ctx, it)
			var d *Deferred
			if !errors.As(err, &d) || d.Delay < f.s.WaitUnavailable/2 || d.Delay > f.s.WaitUnavailable {
				t.Fatalf("settle = %v, want a *Deferred of between %s and %s", err, f.s.WaitUnavailable/2, f.s.WaitUnavailable)
			}
			if r := f.rec(id); r.Status != sms.Queued || r.Attempts != 0 || len(r.History) != 0 {
				t.Fatalf("record %+v, want queued with no attempt", r)
			}
		})
	}
}

func TestAdmitDefersARateLimitedOperator(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	// One segment of burst, then one per 1000 s: the second SMS to the
	// operator must wait; another operator has no limit.
	f.withRates("DE:T-Mobile=0.001/1")
	de1, de2, fr := "+4915112000031", "+4915112000032", "+33612000033"
	id1, id2, id3 := f.create(msg{}, de1), f.create(msg{}, de2), f.create(msg{}, fr)
	items := f.upTo(ref(id1, de1), ref(id2, de2), ref(id3, fr))

	if it := items[0]; it.verdict.fate != fateSend || it.err != nil || it.op.Key != "DE:T-Mobile" {
		t.Fatalf("first DE SMS: fate %v err %v operator %q, want admitted", it.verdict.fate, it.err, it.op.Key)
	}
	held := items[1]
	var d *Deferred
	if held.verdict.fate != fateHeld || !errors.As(held.err, &d) || d.Delay < deferFloor || !strings.Contains(d.Reason, "DE:T-Mobile") {
		t.Fatalf("second DE SMS: fate %v err %v, want held with a *Deferred for DE:T-Mobile", held.verdict.fate, held.err)
	}
	if it := items[2]; it.verdict.fate != fateSend || it.err != nil || it.op.Key == "DE:T-Mobile" {
		t.Fatalf("FR SMS: fate %v err %v operator %q, want admitted", it.verdict.fate, it.err, it.op.Key)
	}
	// The deferral is the task's result, and it used no attempt.
	if err := f.s.settle(f.ctx, held); err != held.err {
		t.Fatalf("settle = %v, want the admit's deferral", err)
	}
	if r := f.rec(id2); r.Status != sms.Queued || r.Attempts != 0 {
		t.Fatalf("deferred record %+v, want queued with no attempt", r)
	}
	if n := a.calls.Load(); n != 0 {
		t.Fatalf("admit called the provider %d times", n)
	}
}

func TestAdmitSendsARetryAfterAnAmbiguousFailureBackToItsProvider(t *testing.T) {
	a, b := newStub(t, "a", answerOK, 0), newStub(t, "b", answerOK, 0)
	f := newFixture(t, providers(a, b)...)
	for _, c := range []struct {
		name      string
		ambiguous bool
		want      string
	}{
		// Issue 12, item 1: this was "b,a", b first with a as fallback,
		// which is how a hanging b double-sent through a once b's breaker
		// opened. Only b may have it now.
		{"ambiguous at b: b alone", true, "b"},
		{"clean failure at b: route order", false, "a,b"},
	} {
		phone := "+4915112000034"
		if !c.ambiguous {
			phone = "+4915112000035"
		}
		id := f.create(msg{}, phone)
		f.begin(id)
		if err := f.st.RecordAttempts(f.ctx, id, "b", "b: transient", c.ambiguous, []store.Attempt{{Provider: "b", At: t0, Outcome: "transient"}}); err != nil {
			t.Fatal(err)
		}
		it := f.upTo(ref(id, phone))[0]
		if it.verdict.fate != fateSend || memberNames(it) != c.want {
			t.Errorf("%s: fate %v candidates %s, want %s", c.name, it.verdict.fate, memberNames(it), c.want)
		}
	}
}
