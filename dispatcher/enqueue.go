package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/groupcommit"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Enqueuer turns stored messages into Asynq tasks.
type Enqueuer struct {
	store       *store.Store
	queue       *asynq.Client
	maxAttempts int
	sendTimeout time.Duration
	now         func() time.Time
	// batch is the most SMS one send task carries (WithBatch); group
	// gathers concurrent direct sends into such tasks (group.go).
	batch int
	group groupcommit.Group[*pendingSend]
	// flushHook, when set (tests), runs at the start of each flush.
	flushHook func()
	// shards is how many queues each lane has (WithShards).
	shards sms.Shards
}

// NewEnqueuer returns an Enqueuer; now is the clock send dates are read on.
func NewEnqueuer(st *store.Store, q *asynq.Client, maxAttempts int, sendTimeout time.Duration, now func() time.Time) *Enqueuer {
	if now == nil {
		now = time.Now
	}
	return &Enqueuer{store: st, queue: q, maxAttempts: maxAttempts, sendTimeout: sendTimeout, now: now}
}

// WithShards spreads the Enqueuer's tasks over n queues per lane
// (SMSFLEET_LANE_SHARDS); without it each lane is one queue.
func (e *Enqueuer) WithShards(n sms.Shards) *Enqueuer {
	e.shards = n
	return e
}

// Shards is how many queues each lane has: where this Enqueuer's tasks
// are, for whoever must find one (the intake deleting a canceled
// message's dispatch). A nil Enqueuer has the one queue per lane.
func (e *Enqueuer) Shards() sms.Shards {
	if e == nil {
		return 1
	}
	return e.shards
}

// Enqueue enqueues m's task (its one send, or its dispatch at its send
// date). Enqueueing twice is harmless: task ids are deterministic. The
// outbox entry of a dispatch is cleared here, as its task may wait hours;
// a direct send's is cleared by the worker's claim, which saves the intake
// a round trip on the hot path.
func (e *Enqueuer) Enqueue(ctx context.Context, m store.Message) error {
	if m.Direct && e.batch > 1 && m.To != "" {
		// A direct send (one recipient, due now) joins the group commit
		// (group.go).
		id, err := e.store.SMSID(ctx, m, m.To)
		if err != nil {
			return fmt.Errorf("enqueue %s: %w", m.Code, err)
		}
		return e.enqueueDirect(ctx, tasks.SendPayload{ID: id, App: m.App, Phone: m.To}, m.Type, m.Code)
	}
	_, err := e.enqueue(ctx, m)
	return err
}

// enqueue is Enqueue, also reporting how many of m's tasks it created: 0
// when every one existed already (asynq refused its id).
func (e *Enqueuer) enqueue(ctx context.Context, m store.Message) (created int, err error) {
	if m.Direct {
		if m.To == "" {
			return 0, errors.New("direct message without its recipient")
		}
		// The id in the scheme m was created with: a message accepted
		// before keyed ids keeps its legacy id (docs/decisions.md#20).
		id, err := e.store.SMSID(ctx, m, m.To)
		if err != nil {
			return 0, fmt.Errorf("enqueue %s: %w", m.Code, err)
		}
		return enqueueTask(e.queue, e.SendTask(tasks.SendPayload{ID: id, App: m.App, Phone: m.To}, m.Type))
	}
	for g, grp := range m.Groups {
		n, err := enqueueTask(e.queue, tasks.Dispatch(m.Code, g, e.shards, grp.SendAt.Sub(e.now())))
		created += n
		if err != nil {
			return created, err
		}
	}
	// Every group's task exists now; until then the outbox entry stays, so
	// a crash between two groups is repaired too. On a Redis Cluster the
	// tasks must be on their replicas before the entry goes
	// (store.QueuesReplicated).
	if err := e.store.QueuesReplicated(ctx, tasks.DispatchQueue(m.Code, e.shards)); err != nil {
		return created, err
	}
	return created, e.store.OutboxDone(ctx, m.Code)
}

// enqueueTask enqueues t; a task whose id exists already is no error and
// counts 0 (tasks.Enqueue's rule, with the count).
func enqueueTask(q *asynq.Client, t *asynq.Task) (int, error) {
	_, err := q.Enqueue(t)
	switch {
	case err == nil:
		return 1, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return 0, nil
	}
	return 0, fmt.Errorf("enqueue %s: %w", t.Type(), err)
}

// SendTask builds the send task of one SMS. asynq may retry it twice as
// often as the SMS has attempts: the worker's claim counts provider
// attempts and fails the SMS itself, so asynq's budget only has to outlast
// crashes and Redis hiccups that happen before an attempt is counted.
func (e *Enqueuer) SendTask(p tasks.SendPayload, typ sms.Type) *asynq.Task {
	return tasks.SendFor(p, typ, e.shards, tasks.SendRetryBudget(e.maxAttempts), e.sendTimeout)
}

// SendBatchTask builds a batch task of many SMS of one lane (worker/batch.go),
// with a send task's retry budget and timeout: its SMS's provider calls
// run at once.
func (e *Enqueuer) SendBatchTask(id string, refs []tasks.SendPayload, typ sms.Type) *asynq.Task {
	return tasks.SendBatch(id, refs, typ, e.shards, tasks.SendRetryBudget(e.maxAttempts), e.sendTimeout)
}

// SweepOutbox enqueues messages that were stored more than grace ago but
// whose enqueue was never confirmed: the intake crashed (or Redis failed)
// between writing a message and enqueueing it. It returns how many it
// repaired: messages whose task did not exist. A direct send stays in the
// outbox until a worker loads it, so one merely queued behind a backlog is
// due too; its task exists, asynq refuses the id, and that is no repair
// (docs/decisions.md#10).
//
// Each partition of the store has its own outbox (docs/decisions.md#22):
// they are swept one after the other, up to 500 messages each per sweep.
func (e *Enqueuer) SweepOutbox(ctx context.Context, grace time.Duration, log *zap.Logger) (int, error) {
	total := 0
	for p := range e.store.Partitions() {
		n, err := e.sweepOutbox(ctx, p, grace, log)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// sweepOutbox is SweepOutbox for partition p.
func (e *Enqueuer) sweepOutbox(ctx context.Context, p int, grace time.Duration, log *zap.Logger) (int, error) {
	codes, err := e.store.OutboxDue(ctx, p, e.now().Add(-grace), 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, code := range codes {
		m, err := e.store.GetMessage(ctx, "", code)
		if errors.Is(err, store.ErrNotFound) {
			_ = e.store.OutboxDone(ctx, code)
			continue
		}
		if err != nil {
			return n, err
		}
		if m.NothingToSend() {
			_ = e.store.OutboxDone(ctx, code)
			continue
		}
		created, err := e.enqueue(ctx, m)
		if err != nil {
			return n, err
		}
		if m.Direct {
			// Its send task before its outbox entry (a dispatch's is fenced
			// in enqueue): any shard of the lane, this is the rare path.
			if err := e.store.QueuesReplicated(ctx, e.shards.Queues(m.Type.Lane())...); err != nil {
				return n, err
			}
		}
		if err := e.store.OutboxDone(ctx, code); err != nil {
			return n, err
		}
		if created == 0 {
			log.Debug("outbox: message already queued", zap.String("message", code))
			continue
		}
		log.Warn("outbox: enqueued a message the intake had not", zap.String("message", code), zap.Int("tasks", created))
		n++
	}
	return n, nil
}
