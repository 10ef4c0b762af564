package outcomes

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Relay publishes outcome events from the store's stream: each to Kafka
// (when a writer is set) and, for notifications with a status_callback,
// as a callback task. Entries are acknowledged only after both, so a
// crash publishes them again rather than never (at least once; the
// callback task id keeps the callback itself at most once while the task
// exists).
type Relay struct {
	Store  *store.Store
	Writer *kafka.Writer // nil: no Kafka configured, callbacks only
	Queue  *asynq.Client
	// MaxAttempts and Timeout bound each callback task.
	MaxAttempts int
	Timeout     time.Duration
	Log         *zap.Logger
	// Batch is how many events one round publishes.
	Batch int
	// OrphanAfter is how long another relay's unacknowledged events wait
	// before this one takes them over (their relay is presumed dead).
	OrphanAfter time.Duration
	// Now is the fleet's clock (nil: time.Now); it stamps the relay's
	// consumer name.
	Now func() time.Time
	// NumberHashKey is an application's number hash key (nil: its events
	// carry the number); see hash.go. nil: every event carries it.
	NumberHashKey func(app string) []byte
	consumer      string
}

// relayRetry paces the rounds after a failed one: a Kafka or Redis blip
// is retried within a fraction of a second, an outage every few seconds.
var relayRetry = backoff.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second}

// Name names the relay in the supervisor's logs.
func (r *Relay) Name() string { return "outcome-relay" }

// Run relays until ctx is done. It returns an error only when it cannot
// start (the streams' group cannot be made); the supervisor runs it again
// after a backoff. Each partition of the store has its outcome stream
// (docs/decisions.md#22), relayed by a loop of its own, so a busy or
// stuck partition holds up no other; each loop blocks on its stream for
// at most a second at a time, holding one Redis connection. A failed
// round is retried in its loop, keeping the consumer name and so the
// events this relay already holds.
func (r *Relay) Run(ctx context.Context) error {
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.OrphanAfter <= 0 {
		r.OrphanAfter = 30 * time.Second
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	host, _ := os.Hostname()
	r.consumer = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(now().UnixNano(), 36)
	if err := r.Store.EnsureOutcomeGroup(ctx); err != nil {
		return fmt.Errorf("outcome relay: %w", err)
	}
	backlog := make([]atomic.Int64, r.Store.Partitions())
	var wg sync.WaitGroup
	for p := range backlog {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.relay(ctx, p, backlog)
		}()
	}
	wg.Wait()
	return nil
}

// relay is partition p's loop, until ctx is done; backlog holds each
// partition's last known backlog, for the gauge of their sum.
func (r *Relay) relay(ctx context.Context, p int, backlog []atomic.Int64) {
	failures := 0
	for ctx.Err() == nil {
		if n, err := r.Store.OutcomeBacklogOf(ctx, p); err == nil {
			backlog[p].Store(n)
			var sum int64
			for i := range backlog {
				sum += backlog[i].Load()
			}
			metrics.OutcomeBacklog.Set(float64(sum))
		}
		events, err := r.Store.ReadOutcomes(ctx, p, r.consumer, r.Batch, time.Second, r.OrphanAfter)
		if err == nil && len(events) > 0 {
			err = r.publish(ctx, events)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if isNoGroup(err) {
				// Redis lost its data (a restart without persistence, a
				// failover to an empty replica, FLUSHALL): the stream's
				// group is gone and XREADGROUP would fail for ever. Make
				// it again, from the stream's start, and go on; the
				// events appended since are published, the ones lost with
				// the data cannot be.
				if gerr := r.Store.EnsureOutcomeGroup(ctx); gerr == nil {
					metrics.OutcomeGroupRecreated.Inc()
					r.Log.Error("outcome stream's consumer group was gone (Redis lost its data); recreated it", zap.Int("partition", p), zap.Error(err))
					continue
				} else {
					err = gerr
				}
			}
			failures++
			r.Log.Warn("outcome events not relayed; retrying", zap.Int("partition", p), zap.Int("failures", failures), zap.Error(err))
			relayRetry.Wait(ctx, failures-1)
			continue
		}
		failures = 0
	}
}

// isNoGroup reports whether Redis answered that the stream or its
// consumer group does not exist.
func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// publish sends one batch everywhere it goes, then acknowledges it. A
// failure leaves the batch pending: this relay (or another, after
// OrphanAfter) takes it again.
func (r *Relay) publish(ctx context.Context, events []store.OutcomeEvent) error {
	msgs := make([]kafka.Message, 0, len(events))
	callbacks := false
	for _, o := range events {
		e := FromStore(o)
		if r.NumberHashKey != nil {
			e.protect(r.NumberHashKey(o.App))
		}
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("outcome %s: %w", e.EventID, err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(e.SMSID), Value: body, Headers: e.headers()})
		if o.Callback == "" {
			continue
		}
		payload, err := json.Marshal(callbackTask{URL: o.Callback, App: o.App, Body: body})
		if err != nil {
			return fmt.Errorf("outcome %s: %w", e.EventID, err)
		}
		if err := tasks.Enqueue(r.Queue, tasks.Callback(e.EventID, payload, r.MaxAttempts-1, r.Timeout)); err != nil {
			return err
		}
		metrics.Outcomes.WithLabelValues("callback").Inc()
		callbacks = true
	}
	if r.Writer != nil {
		if err := r.Writer.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("produce outcomes: %w", err)
		}
		metrics.Outcomes.WithLabelValues("kafka").Add(float64(len(msgs)))
	}
	// The callback tasks on their replicas before the events leave the
	// stream (on a Redis Cluster they are on other masters:
	// store.QueuesReplicated); a failure leaves the batch pending.
	if callbacks {
		if err := r.Store.QueuesReplicated(ctx, tasks.CallbackQueue); err != nil {
			return err
		}
	}
	if err := r.Store.AckOutcomes(ctx, events); err != nil {
		return err
	}
	// Counted here, once per relayed event, because the relay is the one
	// place that sees every outcome, whichever role caused it.
	for _, o := range events {
		metrics.CountOutcome(string(o.Status), o.Lane, o.Provider, o.Operator)
	}
	return nil
}
