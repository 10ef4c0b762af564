package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Recording a provider's acceptance (docs/decisions.md#22). The SMS's keys
// are in its message's partition; its provider reference, and a receipt
// parked for it, in the partition of "prov:ref", the only thing a receipt
// knows. So a move to sent takes up to three steps, each one slot:
//
//  1. scriptTransition moves the SMS to sent (its partition);
//  2. the reference is indexed (SET sf:ref) and a receipt parked for it
//     read (GET sf:park), in that order on the reference's node: a
//     receipt parks only while the reference is unknown (scriptPark checks
//     it in the same step), so one that parked before the SET is seen by
//     the GET, and one that comes after finds the reference;
//  3. only when a receipt was parked: it is applied to the SMS
//     (scriptReceipt, the SMS's partition), then its park entry cleared.
//
// Step 2 runs for an SMS that step 1 moved, or found sent already (a
// retry of a write whose step 2 failed). Crashes between the steps: after
// 1, the SMS is sent and its reference unknown, until MarkSent's retry
// (the worker retries it) indexes it; a receipt meanwhile parks and is
// applied by that retry, or given up when the window ends if the process
// died (the SMS then ends unknown after its delivery wait, as a receipt
// lost upstream would leave it). After 2, a parked receipt not yet
// applied stays parked: the retry applies it. After the receipt is
// applied, a park entry not yet cleared is given up by the sweeper and
// counted as dropped although it was applied.

// Sent is one provider acceptance to record (MarkSentBatch).
type Sent struct {
	ID      string
	Outcome Outcome
}

// SentResult is what recording one acceptance did: Moved as MarkSent
// reports it, or Err when this SMS's write failed (the caller retries it
// alone, as MarkSent).
type SentResult struct {
	Moved bool
	Err   error
}

// MarkSentBatch records many provider acceptances, each step (above) one
// pipelined round trip for the whole batch: two, three when a receipt was
// parked for one of them. A pipeline that fails as a whole returns the
// error; some steps may have run, and retrying them is harmless (a move
// already made reports Moved false and changes nothing, and the reference
// is indexed again).
func (s *Store) MarkSentBatch(ctx context.Context, batch []Sent) ([]SentResult, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	moves := make([]*scriptCall, len(batch))
	for i, b := range batch {
		o := b.Outcome
		moves[i] = s.transitionCall(b.ID, sms.Sent, o.Segments, o.Attempts, sentPairs(o)...)
	}
	// Durable (with SMSFLEET_REDIS_WAIT_REPLICAS): the task completes only
	// after its acceptance reached the replicas, so a failover cannot keep
	// the task's completion and lose the sent write, which would leave the
	// SMS sending with no task to finish it. A write the replicas did not
	// acknowledge is this SMS's error: the worker records it again.
	if err := s.runCalls(ctx, moves, true); err != nil && anyUnrun(moves) {
		return nil, fmt.Errorf("record sent batch: %w", err)
	}
	out := make([]SentResult, len(batch))
	var index []int
	for i, c := range moves {
		raw, err := s.result(c)
		if err != nil {
			out[i].Err = fmt.Errorf("sms %s to sent: %w", batch[i].ID, err)
			continue
		}
		var res transitionResult
		if err := decodeJSON(raw, &res); err != nil {
			out[i].Err = fmt.Errorf("sms %s to sent: %w", batch[i].ID, err)
			continue
		}
		out[i].Moved = res.Moved
		if res.Moved || atOrPastSent(sms.Status(res.Prev)) {
			index = append(index, i)
		}
	}
	parked, err := s.indexRefs(ctx, batch, index, out)
	if err != nil {
		return nil, err
	}
	s.applyParked(ctx, batch, parked, out)
	return out, nil
}

// ReindexSent runs steps 2 and 3 again for SMS that are sent: their
// provider references indexed, and a receipt parked for one applied. It is
// for an SMS whose worker died between step 1 and step 2 (its task runs
// again and finds it sent): without it, its receipts would park until
// given up. Harmless for SMS whose references are indexed (the same SET).
func (s *Store) ReindexSent(ctx context.Context, ids []string) error {
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.k.sms(id), fStatus, fProvider, fRef)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("re-index sent sms: %w", err)
	}
	var batch []Sent
	for i, c := range cmds {
		v := c.Val()
		st, _ := v[0].(string)
		prov, _ := v[1].(string)
		ref, _ := v[2].(string)
		if sms.Status(st) == sms.Sent && prov != "" && ref != "" {
			batch = append(batch, Sent{ID: ids[i], Outcome: Outcome{Provider: prov, ProviderRef: ref}})
		}
	}
	if len(batch) == 0 {
		return nil
	}
	out := make([]SentResult, len(batch))
	index := make([]int, len(batch))
	for i := range index {
		index[i] = i
	}
	parked, err := s.indexRefs(ctx, batch, index, out)
	if err != nil {
		return err
	}
	s.applyParked(ctx, batch, parked, out)
	for _, r := range out {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// anyUnrun reports whether a call got no reply of its own (the pipeline
// failed before it).
func anyUnrun(calls []*scriptCall) bool {
	for _, c := range calls {
		if c.cmd == nil {
			return true
		}
	}
	return false
}

// atOrPastSent: an SMS in this status was sent (possibly by an earlier
// try of this write).
func atOrPastSent(st sms.Status) bool {
	switch st {
	case sms.Sent, sms.Delivered, sms.Undelivered, sms.Unknown:
		return true
	}
	return false
}

// indexRefs is step 2 for batch[i], i in index: it returns the receipts
// parked for them ("status|code" by batch index). A failed SMS gets its
// error in out.
func (s *Store) indexRefs(ctx context.Context, batch []Sent, index []int, out []SentResult) (map[int]string, error) {
	if len(index) == 0 {
		return nil, nil
	}
	ttl := s.retention
	sets := make([]*redis.StatusCmd, len(index))
	gets := make([]*redis.StringCmd, len(index))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range index {
			o := batch[i].Outcome
			sets[j] = p.Set(ctx, s.k.ref(o.Provider, o.ProviderRef), batch[i].ID, ttl)
			gets[j] = p.Get(ctx, s.k.park(o.Provider, o.ProviderRef))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && len(sets) == 0 {
		return nil, fmt.Errorf("record sent batch: index references: %w", err)
	}
	parked := map[int]string{}
	for j, i := range index {
		if err := sets[j].Err(); err != nil {
			out[i].Err = fmt.Errorf("sms %s to sent: index its reference: %w", batch[i].ID, err)
			continue
		}
		switch v, err := gets[j].Result(); {
		case err == nil:
			parked[i] = v
		case !errors.Is(err, redis.Nil):
			out[i].Err = fmt.Errorf("sms %s to sent: read a receipt parked for it: %w", batch[i].ID, err)
		}
	}
	return parked, nil
}

// applyParked is step 3: the receipts parked for batch[i] apply to their
// SMS, then their park entries go. A failure leaves the receipt parked and
// the SMS's error in out, for the caller's retry.
func (s *Store) applyParked(ctx context.Context, batch []Sent, parked map[int]string, out []SentResult) {
	if len(parked) == 0 {
		return
	}
	now := s.now()
	var calls []*scriptCall
	var which []int
	for i, v := range parked {
		to, code, _ := strings.Cut(v, "|")
		calls = append(calls, s.receiptCall(batch[i].ID, sms.Status(to), code, now))
		which = append(which, i)
	}
	_ = s.runCalls(ctx, calls, false)
	var done []int
	for j, c := range calls {
		i := which[j]
		if c.cmd == nil || c.cmd.Err() != nil {
			out[i].Err = fmt.Errorf("sms %s to sent: apply the receipt parked for it: %v", batch[i].ID, errOf(c))
			continue
		}
		done = append(done, i)
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range done {
			o := batch[i].Outcome
			p.Del(ctx, s.k.park(o.Provider, o.ProviderRef))
			m := parkedMember(o.Provider, o.ProviderRef)
			p.ZRem(ctx, s.k.parked(s.k.partitionOf(m)), m)
		}
		return nil
	})
	if err != nil {
		for _, i := range done {
			out[i].Err = fmt.Errorf("sms %s to sent: clear the receipt parked for it: %w", batch[i].ID, err)
		}
	}
}

func errOf(c *scriptCall) error {
	if c.cmd == nil {
		return errors.New("not run")
	}
	return c.cmd.Err()
}
