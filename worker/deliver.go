package worker

import (
	"context"
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/groupcommit"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/worker/route"
)

// deliver begins each admitted SMS (store.BeginBatch, one pipelined round
// trip: queued → sending, the attempt counted, the frequency cap checked)
// and hands the begun ones to their route's providers.
func (s *Sender) deliver(ctx context.Context, items []*item) {
	if len(items) == 0 {
		return
	}
	ls := make([]store.Loaded, len(items))
	for i, it := range items {
		ls[i] = it.l
		// Begin marks the attempt in flight at the provider asked first,
		// so a worker that dies during the call leaves the SMS bound to
		// it (store.Loaded.Attempting).
		if m := firstAvailable(it.cands); m != nil {
			ls[i].Attempting = m.Name()
		}
	}
	began, err := s.Store.BeginBatch(ctx, ls)
	if err != nil {
		for _, it := range items {
			it.verdict, it.err = verdict{fate: fateHeld}, err
		}
		return
	}
	var calls sync.WaitGroup
	// A batch records each acceptance as its call returns, together with
	// the others that returned meanwhile (one pipelined write per group,
	// no timer): an acceptance waits for no slower call to be recorded, so
	// a worker killed mid-batch leaves few acceptances unrecorded (each
	// would be a second call, with the same idempotency key, on the
	// batch's re-run).
	accepted := &groupcommit.Group[*item]{Flush: func(its []*item) { s.writeAccepted(ctx, its) }}
	for i, it := range items {
		it.began = began[i]
		switch {
		case began[i].Capped:
			// Begin suppressed it (it recorded the reason): nothing to send.
			it.log.Info("sms suppressed", zap.String("reason", "frequency_cap"))
			it.verdict = verdict{fate: fateHeld}
			continue
		case !began[i].OK:
			// No longer queued or sending (canceled meanwhile).
			it.verdict = verdict{fate: fateHeld}
			continue
		}
		it.log = it.log.With(zap.Int("attempt", began[i].Attempts))
		it.verdict = verdict{fate: fateSent}
		call := func(it *item, pinned string) {
			it.sent = s.send(ctx, it.cands, pinned, provider.Request{ID: it.l.ID, To: it.l.To, From: it.msg.from, Text: it.msg.text, Expires: provider.Expiry(it.l.Deadline, s.Now())})
			for _, p := range it.sent.throttledBy {
				s.Rates.throttled(ctx, it.op, p, it.log)
			}
		}
		if len(items) == 1 {
			call(it, ls[i].Attempting)
			continue
		}
		// A batch's SMS are independent: their provider calls run at once,
		// so a batch takes as long as its slowest call, not their sum.
		calls.Add(1)
		go func(it *item, pinned string) {
			defer calls.Done()
			call(it, pinned)
			if it.sent.err == nil {
				accepted.Do(it)
			}
		}(it, ls[i].Attempting)
	}
	calls.Wait()
}

// sendResult is what one pass over a route's providers came to.
type sendResult struct {
	res      provider.Result
	err      error  // the last failure, when nothing accepted the SMS
	provider string // who gave it
	called   int    // providers actually called (not refused by a breaker)
	// probes counts the calls made through a breaker that was not closed
	// (half-open): they test a provider's health, and when every call of
	// the pass was a probe a transient failure uses no attempt.
	probes int
	// closedTransient: a call through a closed breaker failed
	// transiently. Only such a failure uses one of the SMS's attempts.
	closedTransient bool
	transient       bool // some call failed transiently
	records         []store.Attempt
	// throttledBy names the providers that throttled the SMS: the
	// operator's effective rate at each is lowered.
	throttledBy []string
}

// send tries the route's providers in order. An open breaker or a clean
// failure (nothing was accepted: refused connection, 5xx, throttle) moves
// on to the next provider at once; success, a permanent rejection or an
// ambiguous failure ends the pass: after an ambiguous one only the same
// provider may be asked again, under the same idempotency key, or the
// phone could get the SMS twice.
//
// pinned is the provider Begin marked the attempt in flight at. Before any
// other provider is called (failover after a clean failure, or a breaker
// that opened since), the mark moves to it (store.Pin); if that cannot be
// recorded the pass stops there, since a crash during the call would leave
// the SMS bound to a provider that does not have it.
func (s *Sender) send(ctx context.Context, cands []*route.Member, pinned string, req provider.Request) sendResult {
	var out sendResult
	for _, m := range cands {
		if m.Name() != pinned && !m.Open() {
			if err := s.Store.Pin(ctx, req.ID, m.Name()); err != nil {
				s.Log.Warn("failover not recorded: stopping the pass", zap.String("sms", req.ID), zap.String("provider", m.Name()), zap.Error(err))
				return out
			}
			pinned = m.Name()
		}
		probe := !m.Closed()
		res, err := m.Send(ctx, req)
		if errors.Is(err, route.ErrOpen) {
			if out.err == nil {
				out.err = err
			}
			continue
		}
		out.called++
		if probe {
			out.probes++
		}
		rec := store.Attempt{Provider: m.Name(), At: s.Now().UTC(), Outcome: "sent"}
		if err != nil {
			rec.Outcome, rec.Error = provider.ClassOf(err).String(), err.Error()
		}
		out.records = append(out.records, rec)
		if err == nil {
			out.res, out.err = res, nil
			return out
		}
		out.err, out.provider = err, m.Name()
		if isThrottle(err) {
			out.throttledBy = append(out.throttledBy, m.Name())
		}
		switch provider.ClassOf(err) {
		case provider.Permanent:
			return out
		case provider.Transient:
			out.transient = true
			if !probe {
				out.closedTransient = true
			}
			if provider.IsAmbiguous(err) {
				return out
			}
		}
	}
	return out
}

// firstAvailable is the provider that will be asked first: the first whose
// breaker does not refuse calls.
func firstAvailable(cands []*route.Member) *route.Member {
	for _, m := range cands {
		if !m.Open() {
			return m
		}
	}
	return nil
}
