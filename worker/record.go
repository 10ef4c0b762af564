package worker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Recording a provider's acceptance (issue 12, item 5). Once a provider
// has accepted an SMS, its answer must not be lost because Redis did not
// answer at that moment: a lost answer means the task fails and the SMS is
// sent again later, a duplicate at any provider that does not honour the
// idempotency key. So:
//
//  1. the sent write is retried with backoff for as long as the task's
//     context lasts (its deadline, SMSFLEET_WORKER_SEND_TIMEOUT; without
//     one, recordWait);
//  2. if it still fails, the acceptance is remembered in this process,
//     keyed by SMS id, and the task fails; asynq's retry of the task (which
//     usually lands in this process again) finds it and records it without
//     calling any provider. Remembered acceptances are kept at most
//     unrecordedTTL and maxUnrecorded of them.
//
// A retry that lands in another process, or after this process stopped,
// calls the SMS's provider again with the same idempotency key (the SMS is
// still sending, and its last provider is the sticky one only if the
// attempt was recorded as ambiguous): the window that remains.

const (
	// recordWait bounds the retries of a sent write when the task's
	// context has no deadline of its own.
	recordWait = 30 * time.Second
	// unrecordedTTL and maxUnrecorded bound the process's memory of
	// acceptances not yet recorded.
	unrecordedTTL = 24 * time.Hour
	maxUnrecorded = 100_000
)

// recordBackoff spaces the retries of a sent write.
var recordBackoff = backoff.Policy{Base: 50 * time.Millisecond, Max: 2 * time.Second}

// unrecorded remembers provider acceptances whose sent write failed. The
// zero value is ready.
type unrecorded struct {
	mu sync.Mutex
	m  map[string]unrecordedSent
	// failures counts failed sent writes (tests watch it).
	failures atomic.Int64
}

type unrecordedSent struct {
	o  store.Outcome
	at time.Time
}

func (u *unrecorded) put(id string, o store.Outcome, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]unrecordedSent{}
	}
	if len(u.m) >= maxUnrecorded {
		for k, v := range u.m {
			if now.Sub(v.at) > unrecordedTTL {
				delete(u.m, k)
			}
		}
		if len(u.m) >= maxUnrecorded {
			return
		}
	}
	u.m[id] = unrecordedSent{o: o, at: now}
}

// take returns and forgets the acceptance remembered for id.
func (u *unrecorded) take(id string, now time.Time) (store.Outcome, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.m[id]
	if !ok {
		return store.Outcome{}, false
	}
	delete(u.m, id)
	return v.o, now.Sub(v.at) <= unrecordedTTL
}

// recall gives each loaded SMS that a provider accepted in an earlier run
// of this process, without the acceptance being recorded, the fate
// fateRecord: it is recorded, never sent again. An SMS that is no longer
// sending (another process recorded it) is forgotten.
func (s *Sender) recall(items []*item) {
	now := s.Now()
	for _, it := range items {
		o, ok := s.unrecorded.take(it.l.ID, now)
		if !ok || it.verdict.fate != fateSend || it.l.Status != sms.Sending {
			continue
		}
		it.verdict, it.recorded = verdict{fate: fateRecord}, o
	}
}

// recordSent records a provider's acceptance of an SMS (o names the
// provider and its reference), retrying while the task's context lasts,
// and remembers it in the process if it still cannot.
func (s *Sender) recordSent(ctx context.Context, it *item, o store.Outcome) error {
	moved, err := it.moved, error(nil)
	if !it.written {
		moved, err = s.markSent(ctx, it.l.ID, o)
	}
	if err != nil {
		s.unrecorded.put(it.l.ID, o, s.Now())
		it.log.Error("the provider accepted the SMS but Redis did not record it; a retry of the task in this process records it without sending",
			zap.String("provider", o.Provider), zap.String("ref", o.ProviderRef), zap.NamedError("record_error", err))
		return fmt.Errorf("record sent: %w", err)
	}
	if moved {
		metrics.CountSent(it.l.Type.Lane(), o.Provider, o.Operator)
		countCost(it, o)
	}
	it.log.Info("sms sent", zap.String("provider", o.Provider), zap.Int("segments", o.Segments), zap.String("encoding", o.Encoding))
	return nil
}

// markSent is store.MarkSent retried with backoff until it succeeds or ctx
// (or recordWait, when ctx has no deadline) ends.
func (s *Sender) markSent(ctx context.Context, id string, o store.Outcome) (bool, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, recordWait)
		defer cancel()
	}
	for n := 0; ; n++ {
		moved, err := s.Store.MarkSent(ctx, id, o)
		if err == nil {
			return moved, nil
		}
		s.unrecorded.failures.Add(1)
		t := time.NewTimer(recordBackoff.Delay(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, err
		case <-t.C:
		}
	}
}

// recordAccepted writes every acceptance of the batch not written yet
// (fateSent without an error, fateRecord) in one pipelined round trip
// (writeAccepted). deliver writes most of them already, as their calls
// return; this catches the rest.
func (s *Sender) recordAccepted(ctx context.Context, items []*item) {
	var its []*item
	for _, it := range items {
		if !it.written && (it.verdict.fate == fateSent && it.sent.err == nil || it.verdict.fate == fateRecord) {
			its = append(its, it)
		}
	}
	if len(its) < 2 {
		return // one SMS: settle's own write is the same round trip
	}
	s.writeAccepted(ctx, its)
}

// writeAccepted records the acceptances of its (store.MarkSentBatch). An
// SMS whose write failed, or a group whose round trip did, is left to
// settle, which retries it alone with backoff (recordSent).
func (s *Sender) writeAccepted(ctx context.Context, its []*item) {
	batch := make([]store.Sent, len(its))
	for i, it := range its {
		if it.verdict.fate == fateSent {
			it.recorded = store.Outcome{Segments: it.msg.parts, Encoding: it.msg.encoding, Operator: it.op.Key, Attempts: it.sent.records,
				Provider: it.sent.res.Provider, ProviderRef: it.sent.res.Ref}
			s.price(it, &it.recorded)
		}
		batch[i] = store.Sent{ID: it.l.ID, Outcome: it.recorded}
	}
	res, err := s.Store.MarkSentBatch(ctx, batch)
	if err != nil {
		s.unrecorded.failures.Add(1)
		return
	}
	for i, r := range res {
		if r.Err == nil {
			its[i].written, its[i].moved = true, r.Moved
		}
	}
}
