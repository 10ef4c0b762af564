package store

import (
	"context"
	"errors"
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

// CreateRequest is one message to write in a group (CreateMessages).
type CreateRequest struct {
	Message   *Message
	Audiences []Audience
}

// CreateResult is what CreateMessage would have returned for one message
// of a group.
type CreateResult struct {
	Code    string
	Created bool
	Err     error
}

// CreateMessages writes many messages in one pipelined round trip: each
// exactly as CreateMessage writes it (its own script run, its own
// transactionId check, its own result and error). With WithReplicas one
// WAIT follows them on the same connection and counts for them all (WAIT
// covers every write the connection made), so each message is acknowledged
// by the replicas as CreateMessage's would be, or gets ErrNotReplicated.
func (s *Store) CreateMessages(ctx context.Context, reqs []CreateRequest) []CreateResult {
	out := make([]CreateResult, len(reqs))
	type call struct {
		i    int
		keys []string
		args []any
		ev   *redis.Cmd
	}
	var calls []*call
	for i, r := range reqs {
		keys, args, err := s.createCall(ctx, r.Message, r.Audiences)
		if err != nil {
			out[i].Err = err
			continue
		}
		calls = append(calls, &call{i: i, keys: keys, args: args})
	}
	if len(calls) == 0 {
		return out
	}
	for try := 0; ; try++ {
		var wait *redis.Cmd
		_, perr := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range calls {
				c.ev = scriptCreateMessage.EvalSha(ctx, p, c.keys, c.args...)
			}
			if s.waitReplicas > 0 {
				wait = p.Do(ctx, "wait", s.waitReplicas, s.waitTimeout.Milliseconds())
			}
			return nil
		})
		noScript := false
		for _, c := range calls {
			if c.ev.Err() != nil && redis.HasErrorPrefix(c.ev.Err(), "NOSCRIPT") {
				noScript = true
			}
		}
		if try == 0 && noScript {
			if lerr := s.LoadScripts(ctx); lerr != nil {
				for _, c := range calls {
					out[c.i].Err = fmt.Errorf("create message: %w", lerr)
				}
				return out
			}
			continue // every create is idempotent by its code
		}
		var werr error
		if wait != nil {
			if n, err := wait.Int(); err != nil {
				werr = fmt.Errorf("wait for replicas: %w", err)
			} else if n < s.waitReplicas {
				werr = &NotReplicatedError{Want: s.waitReplicas, Got: n, Timeout: s.waitTimeout}
			}
		}
		for _, c := range calls {
			raw, err := c.ev.Result()
			switch {
			case err != nil:
				if perr != nil && !errors.Is(perr, redis.Nil) && c.ev.Err() == nil {
					err = perr
				}
				raw = nil
			case werr != nil:
				var nr *NotReplicatedError
				if errors.As(werr, &nr) {
					err = werr // written on the primary: the code is known
				} else {
					raw, err = nil, werr
				}
			}
			code, created, err := createResult(reqs[c.i].Message, raw, err)
			out[c.i] = CreateResult{Code: code, Created: created, Err: err}
		}
		return out
	}
}
