// Package worker runs the send pipeline: Asynq handlers that take an SMS,
// judge it against the application's policy, render it for its recipient,
// hand it to a provider and record what happened.
package worker

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/guard"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/traffic"
	"github.com/smsfleet/smsfleet/ratelimit"
	"github.com/smsfleet/smsfleet/worker/route"
)

// DefaultSender is the From of an SMS when neither the notification nor
// the application names one.
const DefaultSender = "smsfleet"

// Reasons an SMS is suppressed or failed by smsfleet itself.
const (
	ReasonOptedOut   = "opted_out"
	ReasonNoConsent  = "no_consent"
	ReasonMissingTag = "missing_tag"
	ErrorTooLong     = "too_long"
)

// Sender handles sms:send tasks.
type Sender struct {
	Store  *store.Store
	Router *route.Router
	Log    *zap.Logger
	// MaxAttempts is how many provider attempts an SMS gets. It is counted
	// in Redis by Begin, not by asynq: a worker that crashes mid-send still
	// used an attempt, and asynq's own retry budget is larger (see
	// dispatcher.Enqueuer.SendTask) so the last attempt is always ours to
	// record as failed rather than asynq's to archive silently.
	MaxAttempts int
	// Policy returns an application's resolved policy.
	Policy func(app string) config.Resolved
	// Now is the clock policy is judged on (quiet hours, validity).
	Now func() time.Time
	// WaitUnavailable is how long an SMS waits (uncounted) when every
	// provider of its route is refused by its breaker or throttles.
	WaitUnavailable time.Duration
	// Prices are the providers' prices per segment (config.Prices); nil:
	// costs are not recorded.
	Prices config.PriceTable
	// Rates limits sends per operator fleet-wide; nil: no limits.
	Rates *Rates

	Texts *TextCache

	// Paused reports whether the operator paused an application, and
	// Quality counts acceptances for routing on delivery quality
	// (traffic.go); nil: neither.
	Paused  func(app string) bool
	Quality *traffic.Quality
	// Guards are the applications' guards (guards.go); nil: none.
	Guards *guard.Guards
	// Quotas reserve each SMS's use of its application's quotas before
	// its provider call (quota.go); nil: no quotas.
	Quotas *Quotas

	// unrecorded remembers acceptances whose sent write failed (record.go).
	unrecorded unrecorded

	// Tasks enqueues the follow-ups of a batch task (batch.go); a worker
	// without it cannot run sms:send-batch tasks.
	Tasks *asynq.Client
	// RetryDelay is the asynq servers' retry delay (NewServer), which a
	// batch's follow-up of a failed SMS waits, as asynq would have.
	RetryDelay asynq.RetryDelayFunc
	// SendTimeout is a follow-up send task's timeout
	// (SMSFLEET_WORKER_SEND_TIMEOUT).
	SendTimeout time.Duration
	// Shards is how many queues each lane has (SMSFLEET_LANE_SHARDS): a
	// follow-up goes to its SMS's shard, where a batch also looks for it.
	Shards sms.Shards

	// retries, when set, stands in for asynq's retry count and budget of
	// the running task (see taskRetries); nil reads them from the task's
	// context.
	retries func(ctx context.Context) (retried, maxRetry int)
}

// ProcessTask implements asynq.Handler. It is idempotent: load and Begin
// refuse an SMS that is no longer queued or sending, so a duplicate task
// (a re-run fan-out, an asynq redelivery) sends nothing, and a retry of an
// SMS that stayed sending reuses its id as the provider's idempotency key.
func (s *Sender) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p := tasks.ParseSend(t.Payload())
	if p.Retried > 0 {
		// A batch's follow-up: its retries continue the batch's (batch.go).
		ctx = withRetriedBefore(ctx, p.Retried)
	}
	return s.process(ctx, []store.SMSRef{{ID: p.ID, App: p.App, Phone: p.Phone}})[0]
}

// process runs a batch of SMS through the stages load → judge → compose →
// admit → deliver → settle and returns each one's task result. Each stage
// takes the batch and marks the items it stops with their fate; settle
// records every fate in one place.
func (s *Sender) process(ctx context.Context, refs []store.SMSRef) []error {
	errs, err := s.run(ctx, refs)
	if err != nil {
		errs = make([]error, len(refs))
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// run is process, with a failure that stopped the whole batch before any
// SMS was judged (its load) returned on its own: the batch handler then
// retries the batch instead of following each SMS up.
func (s *Sender) run(ctx context.Context, refs []store.SMSRef) ([]error, error) {
	errs := make([]error, len(refs))
	items, err := s.load(ctx, refs)
	if err != nil {
		return nil, err
	}
	s.recall(items)
	now := s.Now()
	for _, it := range live(items) {
		it.verdict = judge(it.l, it.pol, now)
	}
	s.compose(live(items))
	s.guard(ctx, live(items))
	s.admit(ctx, live(items))
	s.deliverWithinQuota(ctx, live(items))
	accepted := s.acceptances(items)
	s.recordAccepted(ctx, items)
	for i, it := range items {
		errs[i] = s.settle(ctx, it)
	}
	// After the SMS's own writes, which it does not delay.
	s.noteAccepted(ctx, accepted)
	return errs, nil
}

// item is one SMS on its way through the stages.
type item struct {
	l   store.Loaded
	pol config.Resolved
	log *zap.Logger
	// verdict is judge's decision, and then the fate each later stage
	// gives the SMS; settle acts on it.
	verdict verdict
	msg     composed
	cands   []*route.Member
	op      ratelimit.Operator
	began   store.Began
	sent    sendResult
	// recorded is a provider's acceptance from an earlier run of this
	// process that is still to be recorded (fateRecord).
	recorded store.Outcome
	// written: recordAccepted wrote the acceptance in the batch's one
	// round trip (moved is what the write reported); settle only reports.
	written, moved bool
	// sticky names the provider an ambiguous failure binds the SMS to
	// (the only candidate), or "".
	sticky string
	// err is a stage's own error (Redis, a rate-limit deferral): settle
	// returns it as the task's.
	err error
}

// live is the part of a batch still on its way to a provider.
func live(items []*item) []*item {
	out := make([]*item, 0, len(items))
	for _, it := range items {
		if it.verdict.fate == fateSend {
			out = append(out, it)
		}
	}
	return out
}
