package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// settle is the one place an SMS's run is settled: it records the fate the
// stages gave it (expired, suppressed, failed, sent, an attempt to retry,
// a wait that uses no attempt) and returns the task's result: nil when
// the task is done, a *Deferred to come back later without a failure, an
// error to retry.
func (s *Sender) settle(ctx context.Context, it *item) error {
	v := it.verdict
	switch v.fate {
	case fateDone:
		it.log.Debug("send skipped", zap.String("status", v.reason))
		if v.reason == string(sms.Failed) {
			// Run again after its failure was recorded (a crash before
			// asynq archived the task, the monitor's "run", a batch's
			// follow-up): archive it as the first run would have.
			return s.failedEarlier(ctx, it.l.ID)
		}
		return nil
	case fateExpire:
		return s.expire(ctx, it.l.ID, it.log, v.reason)
	case fateSuppress:
		return s.suppress(ctx, it.l.ID, it.log, v.reason)
	case fateDefer:
		it.log.Info("marketing SMS held for quiet hours", zap.String("zone", v.zone.String()), zap.Time("until", v.until))
		return &Deferred{Delay: v.delay, Reason: v.reason}
	case fateFail:
		return s.fail(ctx, it.l.ID, it.l, it.log, it.msg.failure)
	case fateWait:
		return s.wait(v.reason)
	case fateHeld:
		return it.err
	case fateSent:
		return s.settleSent(ctx, it)
	case fateRecord:
		return s.recordSent(ctx, it, it.recorded)
	}
	return fmt.Errorf("sms %s: no stage decided its fate", it.l.ID)
}

// settleSent records what the providers did with a begun SMS.
func (s *Sender) settleSent(ctx context.Context, it *item) error {
	out, id := it.sent, it.l.ID
	o := store.Outcome{Segments: it.msg.parts, Encoding: it.msg.encoding, Operator: it.op.Key, Attempts: out.records}
	switch {
	case out.err == nil:
		o.Provider, o.ProviderRef = out.res.Provider, out.res.Ref
		s.price(it, &o)
		return s.recordSent(ctx, it, o)
	case out.called == 0 || provider.ClassOf(out.err) != provider.Permanent && !out.closedTransient:
		// Nobody took the call, every provider throttled, or every
		// transient failure was a probe through a half-open breaker: no
		// provider was believed healthy, so no attempt is used.
		return s.settleUnavailable(ctx, it)
	}
	o.Provider, o.Error = out.provider, out.err.Error()
	class := provider.ClassOf(out.err)
	// Provider messages may quote the number: mask it before logging.
	log := it.log.With(zap.String("provider", out.provider), zap.String("class", class.String()), zap.String("error", sms.MaskPhonesIn(out.err.Error())))
	if class == provider.Permanent || s.lastAttempt(ctx, it) {
		// A reason code (internal/outcomes/reasons.go), then the error.
		code := "provider_failed: " // transient errors until attempts ran out
		if class == provider.Permanent {
			code = "provider_rejected: "
		}
		o.Error = code + o.Error
		return s.fail(ctx, id, it.l, log, o)
	}
	amb := stillAmbiguous(it)
	if err := s.Store.RecordAttempts(ctx, id, out.provider, out.err.Error(), amb, out.records); err != nil {
		log.Error("could not record attempts", zap.NamedError("record_error", err))
	}
	log.Info("sms send will be retried", zap.Bool("ambiguous", amb))
	// asynq keeps the error in Redis and on-call read it in the monitor:
	// provider messages may quote the number.
	return errors.New(sms.MaskPhonesIn(out.err.Error()))
}

// settleUnavailable: nobody took the call (breakers opened meanwhile),
// every provider asked us to slow down, or only half-open breakers' probes
// were made and failed. The SMS waits without using an
// attempt, so the one Begin counted is taken back.
func (s *Sender) settleUnavailable(ctx context.Context, it *item) error {
	out := it.sent
	if err := s.Store.Unbegin(ctx, it.l.ID); err != nil {
		return err
	}
	if len(out.records) > 0 {
		if err := s.Store.RecordAttempts(ctx, it.l.ID, out.provider, out.err.Error(), stillAmbiguous(it), out.records); err != nil {
			return err
		}
	}
	return s.wait("every provider of the route is unavailable or throttling")
}

// lastAttempt reports whether a failed attempt was the SMS's last: its
// attempts, asynq's retries or its validity are used up.
func (s *Sender) lastAttempt(ctx context.Context, it *item) bool {
	retried, maxRetry := s.taskRetries(ctx)
	return it.began.Attempts >= s.MaxAttempts || retried >= maxRetry ||
		(!it.l.Deadline.IsZero() && s.Now().After(it.l.Deadline))
}

// taskRetries is how often asynq has retried the running task and how
// often it may: asynq's, read from the task's context, unless the
// retries hook stands in for it (tests run the stages without asynq).
func (s *Sender) taskRetries(ctx context.Context) (retried, maxRetry int) {
	if s.retries != nil {
		return s.retries(ctx)
	}
	retried, _ = asynq.GetRetryCount(ctx)
	maxRetry, _ = asynq.GetMaxRetry(ctx)
	// A batch's follow-up task started with the batch's retries used.
	before := retriedBefore(ctx)
	return retried + before, maxRetry + before
}

// wait defers the task without counting an attempt.
func (s *Sender) wait(why string) error {
	d := s.WaitUnavailable
	if d <= 0 {
		d = 5 * time.Second
	}
	return &Deferred{Delay: d/2 + rand.N(d/2+1), Reason: why}
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
	moved, err := s.Store.MarkFailed(ctx, id, o)
	if err != nil {
		return err
	}
	if l.Type == sms.Marketing {
		// It never reached the phone: it must not count against the cap.
		if err := s.Store.ForgetFrequency(ctx, l.App, l.To, id); err != nil {
			log.Warn("could not release the frequency-capping slot", zap.NamedError("release_error", err))
		}
	}
	log.Warn("sms failed", zap.String("error", sms.MaskPhonesIn(o.Error)))
	if !moved {
		// Not failed by this run (canceled or settled meanwhile).
		return nil
	}
	// Archived in asynq for on-call, never retried (terminal.go).
	return &failedForGood{id: id, reason: o.Error}
}

// stillAmbiguous reports whether, after this pass, a provider may hold the
// SMS without having told us: the pass ended in an ambiguous failure, or
// the SMS was bound to a provider (item.sticky) that has not answered
// about it since. Only an answer from that provider releases the SMS to
// the rest of its route: an acceptance, a permanent rejection, or a clean
// transient answer (a 5xx); a refused connection or a throttle says
// nothing about the earlier request (decision 17).
func stillAmbiguous(it *item) bool {
	err := it.sent.err
	if provider.IsAmbiguous(err) {
		return true
	}
	if it.sticky == "" || err == nil {
		return false
	}
	switch provider.ClassOf(err) {
	case provider.Permanent:
		return false
	case provider.Throttled:
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
