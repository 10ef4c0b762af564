// Package worker runs the send pipeline: Asynq handlers that take an SMS,
// hand it to a provider and record what happened.
package worker

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/worker/provider"
)

// DefaultSender is the From of an SMS whose message names none.
const DefaultSender = "smsfleet"

// Sender handles sms:send tasks.
type Sender struct {
	Store    *store.Store
	Provider provider.Provider
	Log      *zap.Logger
	// MaxAttempts is how many provider attempts an SMS gets. It is counted
	// by the claim in Redis, not by asynq: a worker that crashes mid-send
	// still used an attempt, and asynq's own retry budget is larger (see
	// dispatcher.Enqueuer.SendTask) so the last attempt is always ours to
	// record as failed rather than asynq's to archive silently.
	MaxAttempts int
}

// ProcessTask implements asynq.Handler. It is idempotent: the claim refuses
// an SMS that is no longer queued or sending, so a duplicate task (a re-run
// fan-out, an asynq redelivery) sends nothing; a retry of an SMS that stayed
// sending reuses its id as the provider's idempotency key.
func (s *Sender) ProcessTask(ctx context.Context, t *asynq.Task) error {
	id := string(t.Payload())
	claim, status, ok, err := s.Store.ClaimSMS(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		// Not queued or sending: canceled, already sent, or never created.
		s.Log.Debug("send skipped", zap.String("sms", id), zap.String("status", string(status)))
		return nil
	}
	segs, enc, err := sms.Segments(claim.Content)
	if err != nil {
		_, ferr := s.Store.MarkFailed(ctx, id, store.Outcome{Error: "unencodable: " + err.Error()})
		return ferr
	}
	from := claim.Sender
	if from == "" {
		from = DefaultSender
	}
	res, err := s.Provider.Send(ctx, provider.Request{ID: id, To: claim.To, From: from, Text: claim.Content})
	if err == nil {
		if _, err := s.Store.MarkSent(ctx, id, store.Outcome{Provider: res.Provider, ProviderRef: res.Ref, Segments: segs, Encoding: enc}); err != nil {
			// The provider has it; asynq retries and the provider's idempotency
			// key turns the retry into the same reference.
			return fmt.Errorf("record sent: %w", err)
		}
		s.Log.Info("sms sent", zap.String("sms", id), zap.String("to", sms.MaskPhone(claim.To)), zap.String("provider", res.Provider), zap.Int("segments", segs))
		return nil
	}
	class := provider.ClassOf(err)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	final := class == provider.Permanent || claim.Attempts >= s.MaxAttempts || retried >= maxRetry
	log := s.Log.With(zap.String("sms", id), zap.String("to", sms.MaskPhone(claim.To)), zap.String("provider", s.Provider.Name()),
		zap.String("class", class.String()), zap.Int("attempt", claim.Attempts), zap.Error(err))
	if final {
		if _, ferr := s.Store.MarkFailed(ctx, id, store.Outcome{Provider: s.Provider.Name(), Error: err.Error(), Segments: segs, Encoding: enc}); ferr != nil {
			return ferr
		}
		log.Warn("sms failed")
		return nil
	}
	if rerr := s.Store.RecordAttemptError(ctx, id, s.Provider.Name(), err.Error()); rerr != nil {
		log.Error("could not record attempt error", zap.NamedError("record_error", rerr))
	}
	log.Info("sms send will be retried")
	return err
}
