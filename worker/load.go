package worker

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// load reads each SMS with its message, the recipient's device and opt-out
// flag (store.LoadBatch: one read-only script per SMS, pipelined) and
// resolves its application's policy. It begins nothing: an SMS that is
// judged, composed and admitted is begun by deliver. An SMS that is not
// queued or sending gets fateDone.
func (s *Sender) load(ctx context.Context, refs []store.SMSRef) ([]*item, error) {
	// Loading a direct send takes its message out of the outbox (on the
	// message's master). On a Redis Cluster this task is on another
	// master: it must be on that master's replicas first, or a failover
	// there loses the task with the outbox entry already gone
	// (store.QueuesReplicated; nothing to do on one primary).
	if q, ok := asynq.GetQueueName(ctx); ok {
		if err := s.Store.QueuesReplicated(ctx, q); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	ls, err := s.Store.LoadBatch(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	items := make([]*item, len(ls))
	var sent []string
	for i, l := range ls {
		it := &item{l: l, log: s.Log.With(zap.String("sms", l.ID))}
		if !l.OK {
			// Not queued or sending: canceled, already sent, or never created.
			it.verdict = verdict{fate: fateDone, reason: string(l.Status)}
			items[i] = it
			if l.Status == sms.Sent {
				sent = append(sent, l.ID)
			}
			continue
		}
		it.log = it.log.With(zap.String("to", sms.MaskPhone(l.To)), zap.String("type", string(l.Type)))
		it.pol = s.Policy(l.App)
		it.verdict = verdict{fate: fateSend}
		items[i] = it
	}
	if len(sent) > 0 {
		// A task that runs again for an SMS already sent: its worker may
		// have died between the move to sent and the indexing of the
		// provider's reference (store.MarkSentBatch's steps), and a receipt
		// for it would then wait parked until given up. Index it again
		// (idempotent; a parked receipt applies now).
		if err := s.Store.ReindexSent(ctx, sent); err != nil {
			s.Log.Warn("re-index the references of SMS already sent", zap.Int("sms", len(sent)), zap.Error(err))
		}
	}
	return items, nil
}
