// Package worker runs the send pipeline: Asynq handlers that take an SMS,
// judge it against the application's policy, render it for its recipient,
// hand it to a provider and record what happened.
package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/content/render"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/worker/route"
)

// DefaultSender is the From of an SMS when neither the notification nor
// the application names one.
const DefaultSender = "smsfleet"

// Reasons an SMS is suppressed or failed by smsfleet itself.
const (
	ReasonOptedOut   = "opted_out"
	ReasonNoConsent  = "no_consent"
	ReasonMissingTag = "missing_tag"
	ErrorTooLong     = "too_long"
)

// Sender handles sms:send tasks.
type Sender struct {
	Store  *store.Store
	Router *route.Router
	Log    *zap.Logger
	// MaxAttempts is how many provider attempts an SMS gets. It is counted
	// in Redis by Begin, not by asynq: a worker that crashes mid-send still
	// used an attempt, and asynq's own retry budget is larger (see
	// dispatcher.Enqueuer.SendTask) so the last attempt is always ours to
	// record as failed rather than asynq's to archive silently.
	MaxAttempts int
	// Policy returns an application's resolved policy.
	Policy func(app string) config.Resolved
	// Now is the clock policy is judged on (quiet hours, validity).
	Now func() time.Time
	// WaitUnavailable is how long an SMS waits (uncounted) when every
	// provider of its route is refused by its breaker or throttles.
	WaitUnavailable time.Duration
	// Rates limits sends per operator fleet-wide; nil: no limits.
	Rates *Rates

	Texts *TextCache
}

// ProcessTask implements asynq.Handler. It is idempotent: Load and Begin
// refuse an SMS that is no longer queued or sending, so a duplicate task
// (a re-run fan-out, an asynq redelivery) sends nothing, and a retry of an
// SMS that stayed sending reuses its id as the provider's idempotency key.
func (s *Sender) ProcessTask(ctx context.Context, t *asynq.Task) error {
	id := string(t.Payload())
	// While a breaker is open the load must not begin the SMS: if no
	// provider of its route can take it, it stays queued.
	l, ok, err := s.Store.LoadSMS(ctx, id, !s.Router.AnyOpen())
	if err != nil {
		return err
	}
	if !ok {
		// Not queued or sending: canceled, already sent, or never created.
		s.Log.Debug("send skipped", zap.String("sms", id), zap.String("status", string(l.Status)))
		return nil
	}
	log := s.Log.With(zap.String("sms", id), zap.String("to", sms.MaskPhone(l.To)), zap.String("type", string(l.Type)))
	pol := s.Policy(l.App)
	now := s.Now()
	// The recipient's zone costs a phone-number parse: look it up only for
	// quiet hours or a template that renders dates.
	var zone *time.Location
	zoneOf := func() *time.Location {
		if zone == nil {
			tz := ""
			if l.Device != nil {
				tz = l.Device.Timezone
			}
			zone = sms.Zone(tz, l.To, time.UTC)
		}
		return zone
	}

	if !l.Deadline.IsZero() && now.After(l.Deadline) {
		return s.expire(ctx, id, log, "validity ended before a provider took it")
	}
	if reason := suppression(l, pol); reason != "" {
		return s.suppress(ctx, id, log, reason)
	}
	if l.Type == sms.Marketing && pol.Quiet.Set {
		if quiet, end := pol.Quiet.Holds(now.In(zoneOf())); quiet {
			if !l.Deadline.IsZero() && end.After(l.Deadline) {
				return s.expire(ctx, id, log, "validity ends inside quiet hours")
			}
			log.Info("marketing SMS held for quiet hours", zap.String("zone", zone.String()), zap.Time("until", end))
			return &Deferred{Delay: end.Sub(now), Reason: "quiet hours " + pol.Quiet.String() + " in " + zone.String()}
		}
	}

	text, err := s.render(l, zoneOf)
	if errors.Is(err, render.ErrMissingTag) {
		return s.suppress(ctx, id, log, ReasonMissingTag)
	}
	if err != nil {
		return s.fail(ctx, id, l, log, store.Outcome{Error: "render: " + err.Error()})
	}
	enc, err := sms.Encode(text, pol.SmartEncoding)
	if err != nil {
		return s.fail(ctx, id, l, log, store.Outcome{Error: "encode: " + err.Error()})
	}
	if enc.Parts > pol.MaxSegments {
		return s.fail(ctx, id, l, log, store.Outcome{Error: ErrorTooLong, Segments: enc.Parts, Encoding: enc.Encoding})
	}

	sticky := ""
	if l.LastAmbiguous {
		sticky = l.LastProvider
	}
	cands := s.Router.Candidates(l.App, l.To, sticky)
	if !anyAvailable(cands) {
		if l.Began {
			if err := s.Store.Unbegin(ctx, id); err != nil {
				return err
			}
		}
		return s.wait("every provider of the route is refused by its breaker")
	}
	op := s.Rates.operatorOf(l.To)
	if err := s.Rates.admit(ctx, op, firstAvailable(cands), l.Type, enc.Parts); err != nil {
		// Waiting for the operator's budget never uses an attempt.
		if l.Began {
			if uerr := s.Store.Unbegin(ctx, id); uerr != nil {
				return uerr
			}
		}
		return err
	}
	attempts, capped, ok, err := s.Store.Begin(ctx, id, l)
	switch {
	case err != nil:
		return err
	case capped:
		log.Info("sms suppressed", zap.String("reason", "frequency_cap"))
		return nil
	case !ok:
		return nil
	}
	from := l.Sender
	if from == "" {
		from = pol.Sender
	}
	if from == "" {
		from = DefaultSender
	}
	log = log.With(zap.Int("attempt", attempts))
	out := s.send(ctx, cands, provider.Request{ID: id, To: l.To, From: from, Text: enc.Text})
	for _, p := range out.throttledBy {
		s.Rates.throttled(ctx, op, p, log)
	}
	sent := store.Outcome{Segments: enc.Parts, Encoding: enc.Encoding, Operator: op.Key, Attempts: out.records}
	switch {
	case out.err == nil:
		sent.Provider, sent.ProviderRef = out.res.Provider, out.res.Ref
		moved, err := s.Store.MarkSent(ctx, id, sent)
		if err != nil {
			// The provider has it; asynq retries, the claim refuses nothing
			// (still sending), and the idempotency key makes the provider
			// answer with the same reference.
			return fmt.Errorf("record sent: %w", err)
		}
		if moved {
			metrics.SMS.WithLabelValues(string(sms.Sent), l.Type.Queue(), out.res.Provider, op.Key).Inc()
		}
		log.Info("sms sent", zap.String("provider", out.res.Provider), zap.Int("segments", enc.Parts), zap.String("encoding", enc.Encoding))
		return nil
	case out.called == 0 || !out.transient && provider.ClassOf(out.err) == provider.Throttled:
		// Nobody took the call (breakers opened meanwhile) or every provider
		// asked us to slow down: wait, without using an attempt.
		if err := s.Store.Unbegin(ctx, id); err != nil {
			return err
		}
		if len(out.records) > 0 {
			if err := s.Store.RecordAttempts(ctx, id, out.provider, out.err.Error(), false, out.records); err != nil {
				return err
			}
		}
		return s.wait("every provider of the route is unavailable or throttling")
	}
	sent.Provider, sent.Error = out.provider, out.err.Error()
	class := provider.ClassOf(out.err)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	// Provider messages may quote the number: mask it before logging.
	log = log.With(zap.String("provider", out.provider), zap.String("class", class.String()), zap.String("error", sms.MaskPhonesIn(out.err.Error())))
	if class == provider.Permanent || attempts >= s.MaxAttempts || retried >= maxRetry || (!l.Deadline.IsZero() && s.Now().After(l.Deadline)) {
		return s.fail(ctx, id, l, log, sent)
	}
	if err := s.Store.RecordAttempts(ctx, id, out.provider, out.err.Error(), provider.IsAmbiguous(out.err), out.records); err != nil {
		log.Error("could not record attempts", zap.NamedError("record_error", err))
	}
	log.Info("sms send will be retried", zap.Bool("ambiguous", provider.IsAmbiguous(out.err)))
	// asynq keeps the error in Redis and on-call read it in the monitor:
	// provider messages may quote the number.
	return errors.New(sms.MaskPhonesIn(out.err.Error()))
}

// sendResult is what one pass over a route's providers came to.
type sendResult struct {
	res       provider.Result
	err       error  // the last failure, when nothing accepted the SMS
	provider  string // who gave it
	called    int    // providers actually called (not refused by a breaker)
	transient bool   // some call failed transiently
	records   []store.Attempt
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
func (s *Sender) send(ctx context.Context, cands []*route.Member, req provider.Request) sendResult {
	var out sendResult
	for _, m := range cands {
		res, err := m.Send(ctx, req)
		if errors.Is(err, route.ErrOpen) {
			if out.err == nil {
				out.err = err
			}
			continue
		}
		out.called++
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
			if provider.IsAmbiguous(err) {
				return out
			}
		}
	}
	return out
}

func anyAvailable(cands []*route.Member) bool { return firstAvailable(cands) != nil }

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

// wait defers the task without counting an attempt.
func (s *Sender) wait(why string) error {
	d := s.WaitUnavailable
	if d <= 0 {
		d = 5 * time.Second
	}
	return &Deferred{Delay: d/2 + rand.N(d/2+1), Reason: why}
}

// suppression says why policy keeps this SMS from its recipient, or "".
func suppression(l store.Loaded, pol config.Resolved) string {
	if l.OptedOut && (l.Type != sms.OTP || !pol.OTPIgnoresOptOut) {
		return ReasonOptedOut
	}
	if l.Type == sms.Marketing && !consented(l.Device, pol.ConsentTag) {
		return ReasonNoConsent
	}
	return ""
}

// consented reports whether the device's consent tag is true (true, "true",
// "yes", 1).
func consented(d *store.Device, tag string) bool {
	if d == nil {
		return false
	}
	switch string(d.Tags[tag]) {
	case "true", `"true"`, `"TRUE"`, `"True"`, `"yes"`, `"Yes"`, "1", `"1"`:
		return true
	}
	return false
}

func (s *Sender) suppress(ctx context.Context, id string, log *zap.Logger, reason string) error {
	if _, err := s.Store.MarkSuppressed(ctx, id, reason); err != nil {
		return err
	}
	log.Info("sms suppressed", zap.String("reason", reason))
	return nil
}

func (s *Sender) expire(ctx context.Context, id string, log *zap.Logger, why string) error {
	if _, err := s.Store.MarkExpired(ctx, id, why); err != nil {
		return err
	}
	log.Info("sms expired", zap.String("why", why))
	return nil
}

func (s *Sender) fail(ctx context.Context, id string, l store.Loaded, log *zap.Logger, o store.Outcome) error {
	if _, err := s.Store.MarkFailed(ctx, id, o); err != nil {
		return err
	}
	if l.Type == sms.Marketing {
		// It never reached the phone: it must not count against the cap.
		if err := s.Store.ForgetFrequency(ctx, l.App, l.To, id); err != nil {
			log.Warn("could not release the frequency-capping slot", zap.NamedError("release_error", err))
		}
	}
	log.Warn("sms failed", zap.String("error", sms.MaskPhonesIn(o.Error)))
	return nil
}
