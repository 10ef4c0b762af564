package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Fanout handles sms:dispatch: when a message is due it creates the record
// of every recipient, chunk by chunk, and enqueues their send tasks: one
// batch task per Batch recipients of a chunk. It
// is safe to run twice or to resume after a crash: records are created only
// if absent and task ids are deterministic.
type Fanout struct {
	Store    *store.Store
	Enqueuer *Enqueuer
	Log      *zap.Logger
	// Parallel is how many enqueues run at once (asynq enqueues are one
	// round trip each; a few in flight hide the latency).
	Parallel int
	// Batch is how many SMS one send task carries (SMSFLEET_WORKER_BATCH;
	// 0 or 1: one task per SMS).
	Batch int
}

// ProcessTask implements asynq.Handler. One task fans out one time zone
// group of a message.
func (f *Fanout) ProcessTask(ctx context.Context, t *asynq.Task) error {
	code, g, err := tasks.ParseDispatchID(string(t.Payload()))
	if err != nil {
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	started, err := f.Store.StartFanout(ctx, code, g)
	if errors.Is(err, store.ErrNotFound) {
		f.Log.Warn("dispatch of a message that no longer exists", zap.String("message", code), zap.Int("group", g))
		return nil
	}
	if err != nil {
		return err
	}
	if !started {
		// A cancel that died midway left recipients scheduled: finish it
		// (each gets its canceled record and outcome event, once).
		n, err := f.Store.FinishCanceledGroup(ctx, code, g)
		f.Log.Info("dispatch skipped: message canceled", zap.String("message", code), zap.Int("group", g), zap.Int64("finished_cancel", n))
		return err
	}
	m, err := f.Store.GetMessage(ctx, "", code)
	if err != nil {
		return fmt.Errorf("dispatch %s: %w", code, err)
	}
	if g >= len(m.Groups) {
		return fmt.Errorf("dispatch %s: no group %d: %w", code, g, asynq.SkipRetry)
	}
	if m.Conditions != "" {
		return f.fanoutTargeted(ctx, m, g) // its recipients are found now (targeted.go)
	}
	deadline := m.Deadline(g)
	enqueued := 0
	for c := 0; c < m.Chunks(g); c++ {
		phones, err := f.Store.RecipientChunk(ctx, code, m.Groups[g].FirstChunk+c)
		if err != nil {
			return err
		}
		smsIDs, statuses, err := f.Store.Materialize(ctx, m, phones, deadline)
		if err != nil {
			return err
		}
		ts, n := f.sendTasks(m, g, c, smsIDs, phones, statuses)
		if err := f.enqueueAll(ctx, ts); err != nil {
			return fmt.Errorf("dispatch %s chunk %d: %w", code, c, err)
		}
		enqueued += n
	}
	// The send tasks on their replicas before the fan-out is recorded as
	// finished (on a Redis Cluster they are on other masters:
	// store.QueuesReplicated); a failure re-runs the dispatch, whose
	// enqueues are idempotent.
	if err := f.Store.QueuesReplicated(ctx, f.Enqueuer.shards.Queues(m.Type.Lane())...); err != nil {
		return fmt.Errorf("dispatch %s: %w", code, err)
	}
	if err := f.Store.FinishFanout(ctx, code, g); err != nil {
		return err
	}
	metrics.FanoutSize.Observe(float64(m.Groups[g].Recipients))
	f.Log.Info("message dispatched", zap.String("message", code), zap.Int("group", g), zap.String("zone", m.Groups[g].Zone),
		zap.Int("recipients", m.Groups[g].Recipients), zap.Int("enqueued", enqueued), zap.String("lane", m.Type.Lane()))
	return nil
}

// sendTasks are the send tasks of one chunk's queued SMS (n of them):
// with a batch size above one, a batch task per Batch positions of the
// chunk (tasks.FanoutBatchID), else a send task per SMS. Queued covers a
// re-run after a crash that wrote the record but not the task; a
// duplicate id is refused by asynq, and the worker refuses anything no
// longer queued or owned by a task of its own (worker/batch.go).
func (f *Fanout) sendTasks(m store.Message, g, c int, smsIDs, phones []string, statuses []sms.Status) (ts []*asynq.Task, n int) {
	size := max(f.Batch, 1)
	for start := 0; start < len(smsIDs); start += size {
		var refs []tasks.SendPayload
		for i := start; i < min(start+size, len(smsIDs)); i++ {
			if statuses[i] == sms.Queued {
				refs = append(refs, tasks.SendPayload{ID: smsIDs[i], App: m.App, Phone: phones[i]})
			}
		}
		n += len(refs)
		switch {
		case len(refs) == 0:
		case size == 1:
			ts = append(ts, f.Enqueuer.SendTask(refs[0], m.Type))
		default:
			ts = append(ts, f.Enqueuer.SendBatchTask(tasks.FanoutBatchID(m.Code, g, c, start/size, size), refs, m.Type))
		}
	}
	return ts, n
}

func (f *Fanout) enqueueAll(ctx context.Context, ts []*asynq.Task) error {
	par := max(f.Parallel, 1)
	work := make(chan *asynq.Task)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if err := tasks.Enqueue(f.Enqueuer.queue, t); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, t := range ts {
		if ctx.Err() != nil {
			break
		}
		work <- t
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
