package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// failedForGood is the task result of an SMS whose failure is recorded
// (store.MarkFailed): it wraps asynq.SkipRetry, so asynq archives the task
// at once, with this error, instead of completing it. The archived list of
// a lane is where on-call find the SMS that failed for good, in the
// monitor or with an asynq Inspector; a task that completed left no trace.
//
// It is returned only after the failure is settled in Redis, so it never
// turns into a retry (SkipRetry) nor a second send (a task run again for
// the SMS, from the monitor's "run" button or a redelivery, finds it
// failed and is archived again without calling a provider). asynq counts
// the archive once as a failed task; smsfleet's own outcome counters move
// only on the SMS's transition, which happened once, before.
//
// The error is what asynq keeps with the archived task for up to 90 days
// (or until 10,000 newer tasks are archived in the queue): it names the
// SMS id and the provider's error with phone numbers masked, never the
// text.
type failedForGood struct {
	id, reason string
}

func (e *failedForGood) Error() string {
	return fmt.Sprintf("sms %s failed for good, not retried: %s", e.id, sms.MaskPhonesIn(e.reason))
}

// Unwrap makes errors.Is(err, asynq.SkipRetry) true.
func (e *failedForGood) Unwrap() error { return asynq.SkipRetry }

// isFailedForGood reports whether a task result archives a failed SMS.
func isFailedForGood(err error) bool {
	var f *failedForGood
	return errors.As(err, &f)
}

// failedEarlier is the task result of a run for an SMS already recorded
// failed: archived with the recorded error, read back (one HGETALL, only
// on this rare path) so on-call see the provider's answer.
func (s *Sender) failedEarlier(ctx context.Context, id string) error {
	reason := "recorded as failed earlier"
	if rec, err := s.Store.GetSMS(ctx, id); err == nil && rec.Error != "" {
		reason = rec.Error
	}
	return &failedForGood{id: id, reason: reason}
}
