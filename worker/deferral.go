package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Deferred is returned by a handler whose SMS may not go yet (quiet hours;
// later, a rate limit): asynq runs the task again after Delay, and because
// it is not a failure the retry is not counted against the task's attempts
// and no concurrency slot is held while it waits.
type Deferred struct {
	Delay  time.Duration
	Reason string
}

func (d *Deferred) Error() string { return fmt.Sprintf("deferred %s: %s", d.Delay, d.Reason) }

// isFailure tells asynq which errors are failures: everything but a
// deferral.
func isFailure(err error) bool {
	var d *Deferred
	return !errors.As(err, &d)
}

// retryDelay waits out a deferral exactly, and backs off otherwise.
func retryDelay(backoff asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		var d *Deferred
		if errors.As(err, &d) {
			return max(d.Delay, 0)
		}
		if t != nil && t.Type() == tasks.TypeSend {
			// A batch's follow-up continues the batch's retries.
			n += tasks.ParseSend(t.Payload()).Retried
		}
		return backoff(n, err, t)
	}
}

// RetryDelay is the worker's asynq retry delay: a deferral's own delay,
// else the backoff of SMSFLEET_WORKER_RETRY_BASE and _MAX.
func RetryDelay(cfg config.Worker) asynq.RetryDelayFunc {
	return retryDelay(Backoff(cfg.RetryBase, cfg.RetryMax))
}
