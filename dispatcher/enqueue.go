package dispatcher

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

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
}

// NewEnqueuer returns an Enqueuer; now is the clock send dates are read on.
func NewEnqueuer(st *store.Store, q *asynq.Client, maxAttempts int, sendTimeout time.Duration, now func() time.Time) *Enqueuer {
	if now == nil {
		now = time.Now
	}
	return &Enqueuer{store: st, queue: q, maxAttempts: maxAttempts, sendTimeout: sendTimeout, now: now}
}

// Enqueue enqueues m's task (its one send, or its dispatch at its send
// date). Enqueueing twice is harmless: task ids are deterministic. The
// outbox entry of a dispatch is cleared here, as its task may wait hours;
// a direct send's is cleared by the worker's claim, which saves the intake
// a round trip on the hot path.
func (e *Enqueuer) Enqueue(ctx context.Context, m store.Message) error {
	if m.Direct {
		if m.To == "" {
			return errors.New("direct message without its recipient")
		}
		return tasks.Enqueue(e.queue, e.SendTask(tasks.SendPayload{ID: sms.SMSID(m.Code, m.To), App: m.App, Phone: m.To}, m.Type))
	}
	for g, grp := range m.Groups {
		if err := tasks.Enqueue(e.queue, tasks.Dispatch(m.Code, g, grp.SendAt.Sub(e.now()))); err != nil {
			return err
		}
	}
	// Every group's task exists now; until then the outbox entry stays, so
	// a crash between two groups is repaired too.
	return e.store.OutboxDone(ctx, m.Code)
}

// SendTask builds the send task of one SMS. asynq may retry it twice as
// often as the SMS has attempts: the worker's claim counts provider
// attempts and fails the SMS itself, so asynq's budget only has to outlast
// crashes and Redis hiccups that happen before an attempt is counted.
func (e *Enqueuer) SendTask(p tasks.SendPayload, typ sms.Type) *asynq.Task {
	return tasks.SendFor(p, typ, 2*e.maxAttempts, e.sendTimeout)
}

// SweepOutbox enqueues messages that were stored more than grace ago but
// whose enqueue was never confirmed: the intake crashed (or Redis failed)
// between writing a message and enqueueing it. It returns how many it
// repaired.
func (e *Enqueuer) SweepOutbox(ctx context.Context, grace time.Duration, log *zap.Logger) (int, error) {
	codes, err := e.store.OutboxDue(ctx, e.now().Add(-grace), 500)
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
		if m.Recipients == 0 || m.Canceled {
			_ = e.store.OutboxDone(ctx, code)
			continue
		}
		if err := e.Enqueue(ctx, m); err != nil {
			return n, err
		}
		if err := e.store.OutboxDone(ctx, code); err != nil {
			return n, err
		}
		log.Warn("outbox: enqueued a message the intake had not", zap.String("message", code))
		n++
	}
	return n, nil
}
