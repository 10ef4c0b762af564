package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/lifecycle"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// ArchiveRetention deletes archived send tasks once their application's
// number retention has passed since they failed.
//
// An SMS that fails for good is archived in its lane so on-call can see it
// in the monitor (terminal.go), and asynq archives a task's payload as it
// was enqueued: the SMS id, the application and the full phone number.
// asynq itself keeps archived tasks up to 90 days, and trims only when
// another task is archived in the same queue, so without this a number
// would outlive the application's number retention (docs/privacy.md). The
// SMS record keeps the outcome; only the task goes.
//
// Every worker runs one; deleting a task another worker deleted first is
// not an error. A task archived by hand (the monitor's Archive button) has
// no failure time and is left to the operator.
type ArchiveRetention struct {
	Inspector *asynq.Inspector
	// Queues are the lane queues whose archives are swept (their shards
	// included).
	Queues []string
	// Retention is an application's number retention.
	Retention func(app string) time.Duration
	Interval  time.Duration
	// Now is the clock the failure times are compared with (asynq stamps
	// them with the real one).
	Now func() time.Time
	Log *zap.Logger
}

// archivePage is how many archived tasks one listing reads.
const archivePage = 500

// Name names the sweeper in the supervisor's logs.
func (a *ArchiveRetention) Name() string { return "archive-retention" }

// Run sweeps every Interval until ctx is done. A sweep that fails (Redis
// away) is logged and tried again at the next tick.
func (a *ArchiveRetention) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, a.Interval, func(ctx context.Context) error {
		if n, err := a.Sweep(ctx); err != nil {
			a.Log.Warn("sweeping archived send tasks past their number retention", zap.Error(err), zap.Int("deleted", n))
		} else if n > 0 {
			a.Log.Info("deleted archived send tasks past their number retention", zap.Int("deleted", n))
		}
		return nil
	})
}

// Sweep deletes the archived send tasks of every queue whose number
// retention has passed and returns how many it deleted.
func (a *ArchiveRetention) Sweep(ctx context.Context) (int, error) {
	deleted := 0
	var errs []error
	for _, q := range a.Queues {
		if ctx.Err() != nil {
			return deleted, ctx.Err()
		}
		n, err := a.sweepQueue(q)
		deleted += n
		if err != nil {
			errs = append(errs, fmt.Errorf("queue %s: %w", q, err))
		}
	}
	return deleted, errors.Join(errs...)
}

// sweepQueue lists q's archive (at most asynq's 10,000 tasks), then
// deletes what is due, so deleting does not shift the pages being read.
func (a *ArchiveRetention) sweepQueue(q string) (int, error) {
	var due []string
	for page := 1; ; page++ {
		infos, err := a.Inspector.ListArchivedTasks(q, asynq.Page(page), asynq.PageSize(archivePage))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("listing archived tasks: %w", err)
		}
		for _, t := range infos {
			if a.due(t) {
				due = append(due, t.ID)
			}
		}
		if len(infos) < archivePage {
			break
		}
	}
	n := 0
	for _, id := range due {
		err := a.Inspector.DeleteTask(q, id)
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return n, fmt.Errorf("deleting archived task %s: %w", id, err)
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}

// due tells whether t holds a number whose retention has passed: the
// shortest retention of the applications in its payload, counted from
// when it last failed.
func (a *ArchiveRetention) due(t *asynq.TaskInfo) bool {
	if t.LastFailedAt.IsZero() {
		return false
	}
	keep, ok := a.retentionOf(t)
	return ok && !a.Now().Before(t.LastFailedAt.Add(keep))
}

// retentionOf is the number retention that bounds t's payload, and
// whether the payload holds a number at all.
func (a *ArchiveRetention) retentionOf(t *asynq.TaskInfo) (time.Duration, bool) {
	switch t.Type {
	case tasks.TypeSend:
		p := tasks.ParseSend(t.Payload)
		if p.Phone == "" {
			return 0, false // an id-only payload: no number to remove
		}
		return a.Retention(p.App), true
	case tasks.TypeSendBatch:
		refs, _, err := tasks.ParseSendBatch(t.Payload)
		if err != nil || len(refs) == 0 {
			return 0, false
		}
		keep := a.Retention(refs[0].App)
		for _, r := range refs[1:] {
			keep = min(keep, a.Retention(r.App))
		}
		return keep, true
	}
	return 0, false
}
