package fleet

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/outcomes"
)

// callbackConcurrency is how many status callbacks one worker POSTs at
// once; they run on their own asynq server so a slow receiver never takes
// a send lane's slot.
const callbackConcurrency = 20

// buildRelay makes the outcome relay of a worker process: events go to
// Kafka when it is configured, and to status callbacks always.
func (f *Fleet) buildRelay() *outcomes.Relay {
	cfg := f.opts.Config
	r := &outcomes.Relay{
		Store: f.store, Queue: f.client, Log: f.log.Named("outcomes"),
		MaxAttempts: orInt(cfg.Callback.MaxAttempts, 12), Timeout: orDuration(cfg.Callback.Timeout, 10*time.Second),
	}
	if len(cfg.Kafka.Brokers) > 0 {
		r.Writer = kafkax.NewWriter(cfg.Kafka.Brokers, outcomes.Topic)
	}
	return r
}

// runRelay relays until ctx is done, starting over after an error.
func (f *Fleet) runRelay(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.relay.Run(ctx); err != nil {
			f.log.Error("outcome relay stopped; starting again", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}
}

// callbacks is the handler of status-callback tasks.
func (f *Fleet) callbacks() *outcomes.Callbacks {
	timeout := orDuration(f.opts.Config.Callback.Timeout, 10*time.Second)
	return &outcomes.Callbacks{
		Client: outcomes.NewHTTPClient(timeout, f.opts.Config.Callback.AllowPrivate),
		Secret: f.opts.Config.CallbackSecretOf,
		Log:    f.log.Named("callbacks"),
	}
}

func orInt(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func orDuration(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}
