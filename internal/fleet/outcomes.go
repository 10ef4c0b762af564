package fleet

import (
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
		MaxAttempts: cfg.Callback.MaxAttempts, Timeout: cfg.Callback.Timeout, Now: f.opts.Now,
		NumberHashKey: cfg.NumberHashKeyOf,
	}
	if len(cfg.Kafka.Brokers) > 0 {
		r.Writer = kafkax.NewWriter(cfg.Kafka.Brokers, outcomes.Topic)
	}
	return r
}

// callbacks is the handler of status-callback tasks.
func (f *Fleet) callbacks() *outcomes.Callbacks {
	return &outcomes.Callbacks{
		Client: outcomes.NewHTTPClient(f.opts.Config.Callback.Timeout, f.opts.Config.Callback.AllowPrivate),
		Secret: f.opts.Config.CallbackSecretOf,
		Log:    f.log.Named("callbacks"),
	}
}
