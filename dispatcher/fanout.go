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
// of every recipient, chunk by chunk, and enqueues one send task each. It
// is safe to run twice or to resume after a crash: records are created only
// if absent and task ids are deterministic.
type Fanout struct {
	Store    *store.Store
	Enqueuer *Enqueuer
	Log      *zap.Logger
	// Parallel is how many enqueues run at once (asynq enqueues are one
	// round trip each; a few in flight hide the latency).
	Parallel int
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
		f.Log.Info("dispatch skipped: message canceled", zap.String("message", code), zap.Int("group", g))
		return nil
	}
	m, err := f.Store.GetMessage(ctx, "", code)
	if err != nil {
		return fmt.Errorf("dispatch %s: %w", code, err)
	}
	if g >= len(m.Groups) {
		return fmt.Errorf("dispatch %s: no group %d: %w", code, g, asynq.SkipRetry)
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
		var ids []tasks.SendPayload
		for i, st := range statuses {
			// Queued covers a re-run after a crash that wrote the record but
			// not the task; a duplicate id is refused by asynq, and the
			// worker refuses anything no longer queued.
			if st == sms.Queued {
				ids = append(ids, tasks.SendPayload{ID: smsIDs[i], App: m.App, Phone: phones[i]})
			}
		}
		if err := f.enqueueAll(ctx, ids, m.Type); err != nil {
			return fmt.Errorf("dispatch %s chunk %d: %w", code, c, err)
		}
		enqueued += len(ids)
	}
	if err := f.Store.FinishFanout(ctx, code, g); err != nil {
		return err
	}
	metrics.FanoutSize.Observe(float64(m.Groups[g].Recipients))
	f.Log.Info("message dispatched", zap.String("message", code), zap.Int("group", g), zap.String("zone", m.Groups[g].Zone),
		zap.Int("recipients", m.Groups[g].Recipients), zap.Int("enqueued", enqueued), zap.String("lane", m.Type.Queue()))
	return nil
}

func (f *Fanout) enqueueAll(ctx context.Context, ids []tasks.SendPayload, typ sms.Type) error {
	par := max(f.Parallel, 1)
	work := make(chan tasks.SendPayload)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := tasks.Enqueue(f.Enqueuer.queue, f.Enqueuer.SendTask(id, typ)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
