package worker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/ratelimit"
)

// fannedOut writes a transactional message of n recipients with the
// given send_rate, fanned out (every record queued), and returns its refs.
func (f *fixture) fannedOut(code string, n, sendRate int) []store.SMSRef {
	f.t.Helper()
	phones := make([]string, n)
	for i := range phones {
		phones[i] = fmt.Sprintf("+49151%s%02d", code[len(code)-6:], i)
	}
	m := &store.Message{App: testApp, Code: code, Type: sms.Transactional, Content: `"hi"`, SendAt: t0, Validity: time.Hour,
		ChunkSize: 100, SendRate: sendRate}
	if _, created, err := f.st.CreateMessage(f.ctx, m, []store.Audience{{Zone: "UTC", SendAt: t0, Phones: phones}}); err != nil || !created {
		f.t.Fatalf("create %s: %v %v", code, created, err)
	}
	if _, _, err := f.st.Materialize(f.ctx, *m, phones, t0.Add(time.Hour)); err != nil {
		f.t.Fatal(err)
	}
	refs := make([]store.SMSRef, n)
	for i, ph := range phones {
		refs[i] = ref(storetest.SMSID(f.t, f.st, code, ph), ph)
	}
	return refs
}

// TestSendRateHoldsAMessageNotItsLane: a 30-recipient message with
// send_rate 100 (Pushwoosh's createMessage "send_rate", "Throttling. Valid
// values are from 100 to 1000 pushes/second": docs.pushwoosh.com/docs/createmessage,
// as quoted in gomoob/php-pushwoosh#39) and a 30-recipient message without
// one, in the same lane, their SMS offered to the worker's admit together
// at every millisecond of the limiter's clock until admitted (a deferred
// task comes back): the first message's SMS are admitted at least 10 ms
// apart, at most 10 in any 100 ms window, each refused one deferred with
// the message's key and no attempt used; the other message's 30 are all
// admitted at once, at the first offer: its lane is not held up.
func TestSendRateHoldsAMessageNotItsLane(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	clock := testenv.NewClock(t0)
	f.withRates("").Messages = ratelimit.NewMessageRates(f.st.Redis(), "", clock.Now)
	rated := f.fannedOut("RATE-00000000-00100001", 30, 100)
	free := f.fannedOut("FREE-00000000-00200002", 30, 0)
	pending := append(append([]store.SMSRef{}, rated...), free...)
	admitted := map[string]time.Time{}
	start := clock.Now()
	for tick := 0; tick < 1000 && len(pending) > 0; tick++ {
		items := f.upTo(pending...)
		var next []store.SMSRef
		for i, it := range items {
			if it.verdict.fate == fateSend && it.err == nil {
				admitted[it.l.ID] = clock.Now()
				continue
			}
			var d *Deferred
			if it.verdict.fate != fateHeld || !errors.As(it.err, &d) || !strings.Contains(d.Reason, ratelimit.MessageKey("RATE-00000000-00100001")) {
				t.Fatalf("tick %d: %s: fate %v err %v, want admitted or deferred by its message's rate", tick, it.l.ID, it.verdict.fate, it.err)
			}
			next = append(next, pending[i])
		}
		if tick == 0 {
			for _, r := range free {
				if _, ok := admitted[r.ID]; !ok {
					t.Fatalf("%s of the message without send_rate was not admitted at the first offer", r.ID)
				}
			}
		}
		pending = next
		clock.Advance(time.Millisecond)
	}
	if len(pending) > 0 {
		t.Fatalf("%d SMS never admitted", len(pending))
	}
	var times []time.Time
	for _, r := range rated {
		times = append(times, admitted[r.ID])
		if rec := f.rec(r.ID); rec.Attempts != 0 || rec.Status != sms.Queued {
			t.Fatalf("%s after its deferrals: %+v, want queued with no attempt", r.ID, rec)
		}
	}
	perWindow := map[int64]int{}
	first, last := times[0], times[0]
	for _, at := range times {
		perWindow[at.Sub(start).Milliseconds()/100]++
		first, last = minTime(first, at), maxTime(last, at)
	}
	for w, n := range perWindow {
		if n > 10 {
			t.Fatalf("%d SMS of the send_rate 100 message admitted in the 100 ms window %d", n, w)
		}
	}
	if got := last.Sub(first); got < 290*time.Millisecond {
		t.Fatalf("30 SMS at send_rate 100 admitted within %v of the clock, want at least 290ms", got)
	}
	if n := a.calls.Load(); n != 0 {
		t.Fatalf("admit called the provider %d times", n)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
