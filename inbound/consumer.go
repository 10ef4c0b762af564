package inbound

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/kafkax"
)

// Consumer applies replies from Kafka (SMSFLEET_INBOUND_TOPIC) as a
// member of a consumer group (SMSFLEET_INBOUND_GROUP): it reads a batch,
// applies each reply in order, and commits the offsets only after all
// were applied. A crash in between redelivers the batch, which the
// Applier absorbs: every step is idempotent per reply id.
type Consumer struct {
	r     *kafka.Reader
	apply func(context.Context, Message) error
	dlq   *kafka.Writer
	batch int
	log   *zap.Logger
	// crash, set by tests, is consulted after each reply is applied: true
	// makes Run return there and then, uncommitted, as if the process died.
	crash func(applied int) bool
}

// NewConsumer reads topic on brokers in group and applies each reply with
// apply; a record that is no reply goes to topic+".dlq".
func NewConsumer(brokers []string, topic, group string, apply func(context.Context, Message) error, log *zap.Logger) *Consumer {
	return &Consumer{
		r: kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: topic, GroupID: group,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond,
			CommitInterval: 0, // synchronous commits, after the writes
			// As the receipts consumer (receipts.SessionTimeout): a dead
			// member's partitions move within seconds.
			SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second,
		}),
		apply: apply, dlq: &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic + ".dlq", RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true},
		batch: 100, log: log,
	}
}

// Name names the consumer in the supervisor's logs.
func (c *Consumer) Name() string { return "inbound-consumer" }

// applyRetry paces the retries of a reply whose writes failed (Redis down
// or failing over): it is retried until it applies, since moving on would
// let a later commit skip it.
var applyRetry = backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}

// finishBound is how long shutdown waits for the batch in hand.
const finishBound = 10 * time.Second

// Run consumes until ctx is done; an error (Kafka unreachable) ends it,
// for the supervisor to run it again after a backoff.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		msgs, err := c.fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("inbound: fetch: %w", err)
		}
		// A batch in hand is finished even when shutdown begins meanwhile,
		// for at most finishBound after it, so a rolling restart does not
		// redeliver it.
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(finishBound, cancel) })
		committed, err := c.finish(bctx, msgs)
		stop()
		cancel()
		if err != nil {
			return err
		}
		if !committed || ctx.Err() != nil {
			return nil // shutting down (or crashed, in a test): redelivered
		}
	}
}

// finish applies a batch in order, then commits it; it reports whether it
// committed.
func (c *Consumer) finish(ctx context.Context, msgs []kafka.Message) (bool, error) {
	for i, km := range msgs {
		m, err := decode(km.Value)
		if err != nil {
			if err := c.deadLetter(ctx, km, err); err != nil {
				return false, err
			}
			continue
		}
		for attempt := 0; ; attempt++ {
			err := c.apply(ctx, m)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return false, nil
			}
			c.log.Warn("inbound reply not applied; retrying", zap.String("id", m.ID), zap.Int("attempt", attempt+1), zap.Error(err))
			if !applyRetry.Wait(ctx, attempt) {
				return false, nil
			}
		}
		if c.crash != nil && c.crash(i+1) {
			return false, nil
		}
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("inbound: commit: %w", err)
	}
	return true, nil
}

// fetch waits for one record, then takes whatever else arrives within a
// few milliseconds, up to the batch size.
func (c *Consumer) fetch(ctx context.Context) ([]kafka.Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := []kafka.Message{m}
	more, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	for len(msgs) < c.batch {
		m, err := c.r.FetchMessage(more)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// deadLetter moves a record that is no reply aside, so it blocks nothing
// and is kept for an operator to read.
func (c *Consumer) deadLetter(ctx context.Context, km kafka.Message, why error) error {
	if err := c.dlq.WriteMessages(ctx, kafkax.DeadLetter(km, why, "/smsfleet/inbound-consumer")); err != nil {
		return fmt.Errorf("inbound: dead-letter: %w", err)
	}
	c.log.Warn("unreadable inbound record sent to the dead-letter topic", zap.String("topic", c.dlq.Topic), zap.Error(why))
	return nil
}

// Close leaves the group.
func (c *Consumer) Close() error {
	_ = c.dlq.Close()
	return c.r.Close()
}
