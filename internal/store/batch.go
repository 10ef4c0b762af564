package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

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

// MarkSentBatch records many provider acceptances in one pipelined round
// trip: scriptTransition once per SMS, each over that SMS's own keys and
// the fleet-wide ones MarkSent touches, so the writes stay what MarkSent
// makes them and a later Redis Cluster layout can split the pipeline by
// slot. A pipeline that fails as a whole returns the error; some scripts
// may have run, and retrying them is harmless (a move already made
// reports Moved false and changes nothing).
func (s *Store) MarkSentBatch(ctx context.Context, batch []Sent) ([]SentResult, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(batch))
		for i, b := range batch {
			o := b.Outcome
			keys, args := s.transitionCall(b.ID, sms.Sent, o.Provider, o.ProviderRef, o.Segments, o.Attempts, sentPairs(o)...)
			cmds[i] = scriptTransition.EvalSha(ctx, p, keys, args...)
		}
		return cmds
	})
	out := make([]SentResult, len(batch))
	if err != nil && len(cmds) != len(batch) {
		return nil, fmt.Errorf("record sent batch: %w", err)
	}
	for i, c := range cmds {
		raw, cerr := c.Result()
		if cerr != nil {
			out[i].Err = fmt.Errorf("sms %s to sent: %w", batch[i].ID, cerr)
			continue
		}
		var res transitionResult
		if derr := decodeJSON(raw, &res); derr != nil {
			out[i].Err = fmt.Errorf("sms %s to sent: %w", batch[i].ID, derr)
			continue
		}
		out[i].Moved = res.Moved
	}
	return out, nil
}

// OutboxDoneMany confirms the enqueue of many messages in one command
// (an intake group commit's batch task holds them all).
func (s *Store) OutboxDoneMany(ctx context.Context, codes []string) error {
	if len(codes) == 0 {
		return nil
	}
	members := make([]any, len(codes))
	for i, c := range codes {
		members[i] = c
	}
	if err := s.rdb.ZRem(ctx, keyOutbox, members...).Err(); err != nil {
		return fmt.Errorf("outbox done: %w", err)
	}
	return nil
}
