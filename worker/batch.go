package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Batch tasks (docs/decisions.md#21). An sms:send-batch task carries up to
// SMSFLEET_WORKER_BATCH SMS of one lane; its handler runs the pipeline once
// over all of them (one load round trip, one Begin round trip, the
// provider calls concurrently, one round trip recording the acceptances)
// and then gives every SMS the batch did not finish a follow-up: an
// sms:send task of that SMS alone, with the SMS id as its task id, exactly
// the task the SMS would have had on its own, retried, deferred and
// recovered as before.
//
// One task owns an SMS at a time. The batch owns its SMS until it hands
// one to a follow-up; from then on the follow-up does, and a batch that
// runs again (asynq redelivers it after a crash between the follow-ups and
// the task's completion, or after a failure) leaves every SMS that has a
// task of its own alone: it checks, before loading, which of its SMS have
// one (ownedElsewhere). That also covers a single task the outbox sweeper
// made for an SMS of an intake batch. An SMS whose follow-up already ran
// to its end has no task any more, but it is no longer queued or sending,
// and load refuses it.

// ctxKey keys the values a batch run puts in its context.
type ctxKey int

const (
	keyRetriedBefore ctxKey = iota // retries before the task existed (follow-up)
	keyNoInlineWait                // a batch must not wait for a rate limiter
)

func withRetriedBefore(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, keyRetriedBefore, n)
}

func retriedBefore(ctx context.Context) int {
	n, _ := ctx.Value(keyRetriedBefore).(int)
	return n
}

// noInlineWait reports whether admit must defer a rate-limited SMS at once
// rather than wait for the limiter: a batch would hold all its SMS (and a
// lane slot) for one operator's budget.
func noInlineWait(ctx context.Context) bool {
	v, _ := ctx.Value(keyNoInlineWait).(bool)
	return v
}

// followUpWrite bounds the writes of a batch's follow-ups when the task's
// own context has ended (its deadline passed while the SMS were settled):
// the follow-ups are what keeps those SMS going.
const followUpWrite = 5 * time.Second

// ProcessBatch handles sms:send-batch.
func (s *Sender) ProcessBatch(ctx context.Context, t *asynq.Task) error {
	refs, typ, err := tasks.ParseSendBatch(t.Payload())
	if err != nil {
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	if s.Tasks == nil {
		return errors.New("send batch: this worker has no task client for follow-ups")
	}
	owned, err := s.ownedElsewhere(ctx, typ, refs)
	if err != nil {
		return err
	}
	todo := make([]store.SMSRef, 0, len(refs))
	for i, r := range refs {
		if !owned[i] {
			todo = append(todo, store.SMSRef{ID: r.ID, App: r.App, Phone: r.Phone})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	errs, err := s.run(context.WithValue(ctx, keyNoInlineWait, true), todo)
	if err != nil {
		// Nothing was judged: the batch as a whole is retried.
		return err
	}
	retried, _ := s.taskRetries(ctx)
	wctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), followUpWrite)
		defer cancel()
	}
	var failed error
	var queues []string
	for i, e := range errs {
		if e == nil {
			continue
		}
		if err := s.followUp(wctx, typ, todo[i], e, retried, t); err != nil && failed == nil {
			failed = err
		}
		queues = append(queues, s.Shards.Queue(typ.Lane(), todo[i].ID))
	}
	// On a Redis Cluster the follow-ups must be on their replicas before
	// the batch completes on its own master (store.QueuesReplicated).
	if failed == nil {
		failed = s.Store.QueuesReplicated(wctx, queues...)
	}
	// A follow-up that could not be written fails the batch: asynq runs it
	// again, and the SMS whose follow-ups exist are left to them.
	return failed
}

// followUp enqueues the sms:send task of one SMS the batch did not finish,
// as asynq would have run that SMS's own task again: after a deferral's
// delay without counting a retry, or after the retry delay of a failure
// with the retry counted. Its id is the SMS id, so a follow-up written
// twice exists once.
func (s *Sender) followUp(ctx context.Context, typ sms.Type, r store.SMSRef, cause error, retried int, batch *asynq.Task) error {
	p := tasks.SendPayload{ID: r.ID, App: r.App, Phone: r.Phone, Retried: retried}
	var (
		d     *Deferred
		delay time.Duration
	)
	switch {
	case errors.As(cause, &d):
		delay = max(d.Delay, 0)
	case isFailedForGood(cause):
		// Its failure is recorded: the follow-up only archives it, at
		// once, for on-call (terminal.go), and uses no retry.
	default:
		p.Retried++
		rd := s.RetryDelay
		if rd == nil {
			rd = retryDelay(Backoff(time.Second, 10*time.Minute))
		}
		delay = rd(retried, cause, batch)
	}
	budget := tasks.SendRetryBudget(s.MaxAttempts)
	t := tasks.SendFor(p, typ, s.Shards, max(budget-p.Retried, 0), s.sendTimeout())
	_, err := s.Tasks.EnqueueContext(ctx, t, asynq.ProcessIn(delay))
	switch {
	case err == nil, errors.Is(err, asynq.ErrTaskIDConflict):
		s.Log.Debug("batch follow-up", zap.String("sms", r.ID), zap.Duration("in", delay), zap.Int("retried", p.Retried),
			zap.String("cause", sms.MaskPhonesIn(cause.Error())))
		return nil
	}
	return fmt.Errorf("follow-up of sms %s: %w", r.ID, err)
}

func (s *Sender) sendTimeout() time.Duration {
	if s.SendTimeout > 0 {
		return s.SendTimeout
	}
	return 30 * time.Second
}

// ownedElsewhere reports, in one round trip, which SMS of a batch have a
// task of their own in the lane (a follow-up of an earlier run of this
// batch, or a task the outbox sweeper made): the batch leaves them to it.
// An SMS's own task is in the lane's shard of the SMS id, which need not
// be the batch's (tasks.SendBatch), so each SMS is looked up in its own;
// on a Redis Cluster the pipeline goes to each shard's master.
func (s *Sender) ownedElsewhere(ctx context.Context, typ sms.Type, refs []tasks.SendPayload) ([]bool, error) {
	cmds := make([]*redis.IntCmd, len(refs))
	_, err := s.Store.Redis().Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range refs {
			cmds[i] = p.Exists(ctx, taskKey(s.Shards.Queue(typ.Lane(), r.ID), r.ID))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("send batch: which SMS have a task: %w", err)
	}
	out := make([]bool, len(refs))
	for i, c := range cmds {
		out[i] = c.Val() > 0
	}
	return out, nil
}
