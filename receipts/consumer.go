package receipts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Consumer applies receipts from Kafka to the delivery state, as a member
// of a consumer group: it reads a batch, applies it with one pipelined
// round trip, and commits the offsets only after the writes succeeded. A
// crash between the two replays the batch, which moves nothing twice: the
// status machine only moves forward.
type Consumer struct {
	r       *kafka.Reader
	dlq     *Producer
	st      *store.Store
	parkTTL time.Duration
	batch   int
	log     *zap.Logger
	// crash, set by tests, is consulted before each batch is applied:
	// true makes Run return there and then, as if the process died.
	crash func(msgs []kafka.Message) bool
	// onFinal, when set, sees every batch of final receipts just before it
	// is applied (the delivery quality counts them: internal/traffic), so
	// an SMS's status never shows a receipt the figures have not counted.
	onFinal func(ctx context.Context, rs []sms.Receipt)
}

// OnFinal sets what sees each batch of final receipts before it is applied.
func (c *Consumer) OnFinal(f func(ctx context.Context, rs []sms.Receipt)) { c.onFinal = f }

// NewConsumer reads topic on brokers in group; unparseable records go to
// dlq. A receipt for a reference not known yet is parked for parkTTL.
func NewConsumer(brokers []string, topic, group string, dlq *Producer, st *store.Store, parkTTL time.Duration, log *zap.Logger) *Consumer {
	return &Consumer{
		r: kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: topic, GroupID: group,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond,
			CommitInterval: 0, // commits are synchronous, after the writes
			// A member that dies is fenced after SessionTimeout and its
			// partitions reassigned (kafka-go's default, 30 s, stopped
			// receipts for 20–70 s after a crash). Heartbeats run in
			// kafka-go's own goroutine, not between batches, so a slow
			// batch (Redis down) does not miss them; 10 s is still 10
			// heartbeats, and above the brokers' minimum (6 s by default).
			// A member cut off for longer is fenced and its uncommitted
			// batch redelivered, which the status machine absorbs.
			SessionTimeout:    SessionTimeout,
			HeartbeatInterval: time.Second,
		}),
		dlq: dlq, st: st, parkTTL: parkTTL, batch: 500, log: log,
	}
}

// Name names the consumer in the supervisor's logs.
func (c *Consumer) Name() string { return "receipts-consumer" }

// Run consumes until ctx is done. An error (Kafka unreachable, a
// rebalance gone wrong) ends it; the supervisor runs it again after a
// backoff rather than giving up.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		msgs, err := c.fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receipts: fetch: %w", err)
		}
		if c.crash != nil && c.crash(msgs) {
			return nil
		}
		// A batch in hand is finished (applied and committed) even when
		// shutdown begins meanwhile, for at most finishBound after it, so a
		// rolling restart does not replay it; while the process runs, a
		// failing write is retried for as long as it takes: moving on would
		// let a later commit skip this batch.
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(finishBound, cancel) })
		committed, err := c.finish(bctx, msgs)
		stop()
		cancel()
		if err != nil {
			return err
		}
		if !committed || ctx.Err() != nil {
			return nil // shutting down; anything uncommitted is redelivered
		}
	}
}

// SessionTimeout is the consumer group session timeout: how long the
// broker waits for a dead member's heartbeats before it gives its
// partitions to the others.
const SessionTimeout = 10 * time.Second

// finishBound is how long shutdown waits for the batch in hand.
const finishBound = 10 * time.Second

// applyRetry paces the retries of a batch whose writes failed: quickly at
// first (a Redis failover takes a second or two), then every few seconds.
var applyRetry = backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}

// finish applies a batch, retrying until it succeeds or ctx ends, then
// commits it. It reports whether the batch was committed.
func (c *Consumer) finish(ctx context.Context, msgs []kafka.Message) (bool, error) {
	for attempt := 0; ; attempt++ {
		err := c.apply(ctx, msgs)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false, nil
		}
		c.log.Warn("receipts batch not applied; retrying", zap.Int("records", len(msgs)), zap.Error(err))
		if !applyRetry.Wait(ctx, attempt) {
			return false, nil
		}
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("receipts: commit: %w", err)
	}
	// The lag is measured by the LagMeter, from the group's committed
	// offsets: the reader's own stats only cover the partitions it reads.
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

// apply writes a batch: final receipts to the state (one round trip),
// unparseable ones to the dead-letter topic.
func (c *Consumer) apply(ctx context.Context, msgs []kafka.Message) error {
	var rs []sms.Receipt
	var dead []kafka.Message
	for _, m := range msgs {
		rec, err := decode(m.Value)
		if err != nil {
			dead = append(dead, kafkax.DeadLetter(m, err, DeadLetterSource))
			continue
		}
		if rec.Final() { // an intermediate receipt moves nothing
			rs = append(rs, rec)
		}
	}
	if len(dead) > 0 {
		if err := c.deadLetter(ctx, dead); err != nil {
			return err
		}
	}
	if len(rs) == 0 {
		return nil
	}
	if c.onFinal != nil {
		c.onFinal(ctx, rs)
	}
	res, err := c.st.ApplyReceipts(ctx, rs, c.parkTTL)
	if err != nil {
		return err
	}
	parked := 0
	for i, r := range res {
		switch r {
		case store.ReceiptUnknown:
			parked++
			metrics.ReceiptsParked.Inc()
		case store.ReceiptApplied:
			metrics.ReceiptsApplied.WithLabelValues(string(rs[i].Status)).Inc()
		default:
			metrics.ReceiptsApplied.WithLabelValues("duplicate").Inc()
		}
	}
	c.log.Debug("receipts applied", zap.Int("records", len(msgs)), zap.Int("final", len(rs)), zap.Int("parked", parked))
	return nil
}

// DeadLetterSource is the ce_source of dead-letter records that had none.
const DeadLetterSource = "/smsfleet/receipts-consumer"

// deadLetter writes records already made by kafkax.DeadLetter: the
// original key, value and headers, plus the error and the original topic,
// partition and offset. A crash before the batch's commit writes them
// again with the same headers (ce_id included), for the reader of the
// dead-letter topic to deduplicate.
func (c *Consumer) deadLetter(ctx context.Context, dead []kafka.Message) error {
	if c.dlq == nil {
		return errors.New("unparseable receipts and no dead-letter topic")
	}
	if err := c.dlq.w.WriteMessages(ctx, dead...); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	metrics.ReceiptsDeadLettered.Add(float64(len(dead)))
	c.log.Warn("unparseable receipts sent to the dead-letter topic", zap.Int("records", len(dead)))
	return nil
}

// Close leaves the group.
func (c *Consumer) Close() error { return c.r.Close() }
