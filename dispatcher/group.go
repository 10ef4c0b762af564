package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Group commit of single sends (docs/decisions.md#21). Concurrent direct
// sends are enqueued together: one sms:send-batch task per lane for all
// the requests that arrived while the previous enqueue was in flight,
// instead of one sms:send task each. There is no timer: a request that
// finds no enqueue in flight is enqueued at once (a lone request, with a
// task of its own as before, waits for nothing); requests that arrive
// while one is in flight wait for it to end and then go together.
//
// A request's message is in the outbox until its enqueue is confirmed: a
// batch's are taken out of it right after the batch exists. An intake that
// dies between the two leaves them to the outbox sweeper, whose single
// task of an SMS takes it from the batch (the worker leaves an SMS that
// has a task of its own to that task, worker/batch.go).

// groupFlushTimeout bounds one flush: it runs for every waiting request,
// not under the context of the one that happens to lead it.
const groupFlushTimeout = 5 * time.Second

// pendingSend is one direct send waiting for its enqueue.
type pendingSend struct {
	ctx  context.Context
	ref  tasks.SendPayload
	typ  sms.Type
	code string
	err  error // the enqueue's result
}

// WithBatch makes the Enqueuer group concurrent direct sends into batch
// tasks of at most size SMS (1 or less: a task per SMS, no grouping).
func (e *Enqueuer) WithBatch(size int) *Enqueuer {
	e.batch = size
	e.group.Flush = e.flush
	return e
}

// enqueueDirect enqueues one direct send through the group commit.
func (e *Enqueuer) enqueueDirect(ctx context.Context, ref tasks.SendPayload, typ sms.Type, code string) error {
	p := &pendingSend{ctx: ctx, ref: ref, typ: typ, code: code}
	e.group.Do(p)
	return p.err
}

// flush enqueues the pending sends: per lane, a batch task per batch size
// of them (a lone send gets its own sms:send task, as without grouping),
// then confirms the batches' messages in the outbox in one command. Each
// request hears its own task's result.
func (e *Enqueuer) flush(batch []*pendingSend) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), groupFlushTimeout)
	defer cancel()
	if e.flushHook != nil {
		e.flushHook()
	}
	byLane := map[sms.Type][]*pendingSend{}
	var lanes []sms.Type
	for _, p := range batch {
		if _, ok := byLane[p.typ]; !ok {
			lanes = append(lanes, p.typ)
		}
		byLane[p.typ] = append(byLane[p.typ], p)
	}
	var confirm, queues []string
	var confirmed []*pendingSend
	for _, typ := range lanes {
		ps := byLane[typ]
		for start := 0; start < len(ps); start += max(e.batch, 1) {
			part := ps[start:min(start+max(e.batch, 1), len(ps))]
			if len(part) == 1 {
				_, err := enqueueTask(e.queue, e.SendTask(part[0].ref, typ))
				part[0].err = err
				continue
			}
			refs := make([]tasks.SendPayload, len(part))
			for i, p := range part {
				refs[i] = p.ref
			}
			id := tasks.IntakeBatchID(refs[0].ID)
			t := e.SendBatchTask(id, refs, typ)
			_, err := e.queue.EnqueueContext(ctx, t)
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				err = fmt.Errorf("enqueue batch of %d: %w", len(part), err)
				for _, p := range part {
					p.err = err
				}
				continue
			}
			for _, p := range part {
				confirm = append(confirm, p.code)
				confirmed = append(confirmed, p)
			}
			queues = append(queues, e.shards.Queue(typ.Lane(), id))
		}
	}
	// A batch's messages leave the outbox now (a single send's leaves it
	// when its worker loads it, which saves the lone request a round
	// trip). Should this fail, the sweeper gives them single tasks later,
	// which the batch leaves to them: still each SMS once. On a Redis
	// Cluster the batches must be on their replicas first: the outbox is
	// on other masters (store.QueuesReplicated).
	err := e.store.QueuesReplicated(ctx, queues...)
	if err == nil {
		err = e.store.OutboxDoneMany(ctx, confirm)
	}
	if err != nil {
		err = fmt.Errorf("enqueued; %w", err)
	}
	for _, p := range confirmed {
		p.err = err
	}
}
