package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// waitFor polls cond until it holds; it waits for a state, never asserts
// a duration (the machine is shared).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Issue 12, item 1: an SMS whose attempt timed out at a hanging provider
// goes to no other provider, not even once that provider's breaker is
// open; it waits without using attempts and is sent once by the same
// provider when it answers again.
func TestAnAmbiguousSMSWaitsForItsProviderAndNeverFailsOver(t *testing.T) {
	a, b := newStub(t, "a", answerHang, 100*time.Millisecond), newStub(t, "b", answerOK, 0)
	br := config.Breaker{Window: time.Minute, MinRequests: 1, FailureRatio: 0.5, OpenTimeout: 20 * time.Millisecond, Probes: 1}
	f := newFixtureBreaker(t, br, providers(a, b)...)
	const phone = "+4915112000070"
	id := f.create(msg{}, phone)
	var d *Deferred
	if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err == nil || errors.As(err, &d) {
		t.Fatalf("first run = %v, want a retry after the ambiguous timeout", err)
	}
	if f.s.Router.Member("a").Closed() {
		t.Fatal("a's breaker did not open")
	}
	// a's breaker is open or half-open (probes hang): each run waits.
	for i := range 8 {
		if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); !errors.As(err, &d) {
			t.Fatalf("run %d while a hangs = %v, want *Deferred", i+2, err)
		}
	}
	if r := f.rec(id); r.Status != sms.Sending || r.Attempts != 1 || b.calls.Load() != 0 {
		t.Fatalf("while a hangs: %s after %d attempts, b called %d times; want sending, 1 attempt, b never", r.Status, r.Attempts, b.calls.Load())
	}
	a.set(answerOK)
	waitFor(t, "a's breaker to let a probe through", func() bool { return !f.s.Router.Member("a").Open() })
	if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err != nil {
		t.Fatalf("run after a recovered = %v", err)
	}
	r := f.rec(id)
	if r.Status != sms.Sent || r.Provider != "a" || r.ProviderRef != refOf("a", id) || b.calls.Load() != 0 || len(a.received()) != 1 {
		t.Fatalf("after a recovered: %+v; a accepted %d, b called %d times; want sent once, by a", r, len(a.received()), b.calls.Load())
	}
}

// Issue 12, item 2: every provider is down for ten minutes (an injected
// clock, advanced by each deferral) through many open/half-open cycles
// and task re-runs: nothing fails, no attempt is used once the breakers
// have seen the outage, and each SMS is sent once when they are back.
func TestTenMinuteOutageOfEveryProviderFailsNothing(t *testing.T) {
	a, b := newStub(t, "a", answerDown, 0), newStub(t, "b", answerDown, 0)
	br := config.Breaker{Window: time.Minute, MinRequests: 1, FailureRatio: 0.5, OpenTimeout: 5 * time.Millisecond, Probes: 1, ConsecutiveFailures: 1}
	f := newFixtureBreaker(t, br, providers(a, b)...)
	now := t0
	f.s.Now, f.s.WaitUnavailable = func() time.Time { return now }, 10*time.Second
	retried := 0
	f.s.retries = func(context.Context) (int, int) { return retried, 25 }

	// early was in flight when the outage began: its attempt met closed
	// breakers and counts. late arrives once the breakers are open.
	early, late := "+4915112000071", "+4915112000072"
	idEarly := f.create(msg{}, early)
	if err := f.s.ProcessTask(f.ctx, task(idEarly, early, sms.Transactional)); err == nil {
		t.Fatal("the first send during the outage succeeded")
	}
	retried++
	idLate := f.create(msg{}, late)
	runs, probes := 0, 0
	for now.Sub(t0) < 10*time.Minute {
		if runs%2 == 0 {
			// Every other run meets half-open breakers: the SMS is a probe.
			waitFor(t, "half-open breakers", func() bool { return !f.s.Router.Member("a").Open() && !f.s.Router.Member("b").Open() })
			probes++
		}
		var longest time.Duration
		for _, s := range []struct{ id, phone string }{{idEarly, early}, {idLate, late}} {
			err := f.s.ProcessTask(f.ctx, task(s.id, s.phone, sms.Transactional))
			var d *Deferred
			if !errors.As(err, &d) {
				t.Fatalf("run %d of %s at +%s = %v, want *Deferred (waiting uses no attempt)", runs, s.id, now.Sub(t0), err)
			}
			longest = max(longest, d.Delay)
		}
		now = now.Add(longest)
		runs++
	}
	if calls := a.calls.Load() + b.calls.Load(); runs < 60 || calls < int64(probes) {
		t.Fatalf("%d runs, %d provider calls (%d half-open rounds): the outage did not span many cycles", runs, calls, probes)
	}
	for id, attempts := range map[string]int{idEarly: 1, idLate: 0} {
		r := f.rec(id)
		if r.Attempts != attempts || (r.Status != sms.Queued && r.Status != sms.Sending) {
			t.Fatalf("%s after 10 minutes: %s with %d attempts, want waiting with %d", id, r.Status, r.Attempts, attempts)
		}
		if c := f.counts(id); c[sms.Failed] != 0 || c[sms.Expired] != 0 {
			t.Fatalf("counts %v", c)
		}
	}
	a.set(answerOK)
	b.set(answerOK)
	waitFor(t, "a's breaker to let a probe through", func() bool { return !f.s.Router.Member("a").Open() })
	for _, s := range []struct{ id, phone string }{{idEarly, early}, {idLate, late}} {
		if err := f.s.ProcessTask(f.ctx, task(s.id, s.phone, sms.Transactional)); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
		if r := f.rec(s.id); r.Status != sms.Sent {
			t.Fatalf("after the outage: %+v", r)
		}
	}
	got := append(a.received(), b.received()...)
	if len(got) != 2 || got[0].ID == got[1].ID {
		t.Fatalf("providers accepted %+v, want each SMS once", got)
	}
}

// pausingProvider accepts every SMS, and before it answers pauses the
// Redis writes of every client (CLIENT PAUSE WRITE): the worker hears the
// acceptance while Redis cannot record it.
type pausingProvider struct {
	srv      *httptest.Server
	control  *redis.Client
	accepted atomic.Int64
}

func newPausingProvider(t *testing.T, control *redis.Client) *pausingProvider {
	p := &pausingProvider{control: control}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		p.accepted.Add(1)
		if err := control.Do(r.Context(), "CLIENT", "PAUSE", 120_000, "WRITE").Err(); err != nil {
			t.Errorf("client pause: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"sid":%q}`, refOf("p", r.Header.Get("Idempotency-Key")))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// Issue 12, item 5: Redis stops answering between the provider's
// acceptance and its record. The record is retried until Redis answers,
// and when the task gives up first, its retry in the same process records
// the acceptance instead of sending again: the provider gets the SMS once.
func TestAnAcceptanceIsRecordedThroughARedisPause(t *testing.T) {
	for _, c := range []struct {
		name string
		// giveUp ends the task before Redis is back.
		giveUp bool
	}{
		{"Redis back within the task: recorded by its retries", false},
		{"the task ends first: its retry records without sending", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			control := f.redis.Client(t)
			t.Cleanup(func() { _ = control.Do(context.Background(), "CLIENT", "UNPAUSE").Err() })
			// The worker's own client gives up on a silent Redis quickly.
			rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1})
			t.Cleanup(func() { _ = rdb.Close() })
			f.st = store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return t0 }))
			if err := f.st.LoadScripts(f.ctx); err != nil {
				t.Fatal(err)
			}
			p := newPausingProvider(t, control)
			tw := provider.NewTwilio(provider.TwilioConfig{Name: "p", BaseURL: p.srv.URL, AccountSID: "ACtest", AuthToken: "token"}, nil)
			f2 := newFixture(t, tw)
			f.s.Router, f.s.Store = f2.s.Router, f.st
			const phone = "+4915112000073"
			id := f.create(msg{}, phone)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- f.s.ProcessTask(ctx, task(id, phone, sms.Transactional)) }()
			// Count failed records, not time: two means it is retrying.
			waitFor(t, "two failed records", func() bool { return f.s.unrecorded.failures.Load() >= 2 })
			if c.giveUp {
				cancel()
				if err := <-done; err == nil {
					t.Fatal("the task succeeded while Redis was paused")
				}
			}
			if err := control.Do(context.Background(), "CLIENT", "UNPAUSE").Err(); err != nil {
				t.Fatal(err)
			}
			if c.giveUp {
				if err := f.s.ProcessTask(context.Background(), task(id, phone, sms.Transactional)); err != nil {
					t.Fatalf("retry: %v", err)
				}
			} else if err := <-done; err != nil {
				t.Fatalf("task = %v, want the acceptance recorded", err)
			}
			r := f.rec(id)
			if r.Status != sms.Sent || r.ProviderRef != refOf("p", id) || r.Attempts != 1 || p.accepted.Load() != 1 {
				t.Fatalf("%+v after %d provider calls, want sent once with its reference", r, p.accepted.Load())
			}
		})
	}
}

// A worker that dies while a provider has the SMS (after Begin, before the
// attempt is settled) leaves it in flight there: the retry, in any
// process, treats it as an ambiguous failure at that provider and goes to
// no other one, even when that provider's breaker is open; it is sent by
// that provider when it answers.
func TestAnSMSWhoseWorkerDiedMidCallStaysWithThatProvider(t *testing.T) {
	a, b := newStub(t, "a", answerDown, 0), newStub(t, "b", answerOK, 0)
	br := config.Breaker{Window: time.Minute, MinRequests: 1, FailureRatio: 0.5, OpenTimeout: 20 * time.Millisecond, Probes: 1, ConsecutiveFailures: 1}
	f := newFixtureBreaker(t, br, providers(a, b)...)
	const phone = "+4915112000073"
	id := f.create(msg{}, phone)
	// The dead worker's step: begun with a as the provider asked first,
	// then nothing (kill -9 during the call).
	l, ok, err := f.s.Store.LoadSMS(f.ctx, id)
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	l.Attempting = "a"
	if _, err := f.s.Store.BeginBatch(f.ctx, []store.Loaded{l}); err != nil {
		t.Fatal(err)
	}
	// a is down and its breaker opens; b is healthy.
	if _, err := f.s.Router.Member("a").Send(f.ctx, provider.Request{ID: "probe", To: phone, From: "x", Text: "x"}); err == nil {
		t.Fatal("a answered while down")
	}
	var d *Deferred
	for i := range 3 {
		if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); !errors.As(err, &d) {
			t.Fatalf("retry %d while a is down = %v, want *Deferred (only a may have it)", i+1, err)
		}
	}
	if n := b.calls.Load(); n != 0 {
		t.Fatalf("b was called %d times for an SMS that a may have", n)
	}
	a.set(answerOK)
	waitFor(t, "a's breaker to let a probe through", func() bool { return !f.s.Router.Member("a").Open() })
	if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err != nil {
		t.Fatalf("retry after a recovered = %v", err)
	}
	if r := f.rec(id); r.Status != sms.Sent || r.Provider != "a" || b.calls.Load() != 0 {
		t.Fatalf("after a recovered: %+v, b called %d times; want sent by a alone", r, b.calls.Load())
	}
}

// A clean failover moves the in-flight mark before the next provider is
// called, so a worker dying during that second call leaves the SMS with
// the provider that may have it, not with the one that said no.
func TestFailoverMovesTheInFlightMark(t *testing.T) {
	a, b := newStub(t, "a", answerDown, 0), newStub(t, "b", answerOK, 0)
	f := newFixtureBreaker(t, config.Breaker{Window: time.Minute, MinRequests: 100, FailureRatio: 1, OpenTimeout: time.Minute, Probes: 1}, providers(a, b)...)
	const phone = "+4915112000074"
	id := f.create(msg{}, phone)
	// What a retry would read if this worker died now, during the call.
	var atA, atB store.Loaded
	a.onCall = func() { atA, _, _ = f.s.Store.LoadSMS(f.ctx, id) }
	b.onCall = func() { atB, _, _ = f.s.Store.LoadSMS(f.ctx, id) }
	if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err != nil {
		t.Fatalf("send = %v", err)
	}
	if !atA.LastAmbiguous || atA.LastProvider != "a" {
		t.Fatalf("during a's call: last %q ambiguous %v, want in flight at a", atA.LastProvider, atA.LastAmbiguous)
	}
	if !atB.LastAmbiguous || atB.LastProvider != "b" {
		t.Fatalf("during b's call (after a's 503): last %q ambiguous %v, want in flight at b", atB.LastProvider, atB.LastAmbiguous)
	}
	l, ok, err := f.s.Store.LoadSMS(f.ctx, id)
	if err != nil || ok {
		t.Fatalf("after the send: loadable %v (%v), want sent (done)", ok, err)
	}
	if r := f.rec(id); r.Status != sms.Sent || r.Provider != "b" || l.LastAmbiguous {
		t.Fatalf("after the send: %+v", r)
	}
}
