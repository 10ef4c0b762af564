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
	calls := s.createCalls(ctx, reqs, out)
	if len(calls) == 0 {
		return out
	}
	wait, perr := s.runCreates(ctx, calls)
	if anyNoScript(calls) {
		if lerr := s.LoadScripts(ctx); lerr != nil {
			for _, c := range calls {
				out[c.i].Err = fmt.Errorf("create message: %w", lerr)
			}
			return out
		}
		// Every create is idempotent by its code: run them all again once.
		wait, perr = s.runCreates(ctx, calls)
	}
	werr := s.waitError(wait)
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

// createCall is one message's script run within CreateMessages; i is its
// request's index.
type createCall struct {
	i    int
	keys []string
	args []any
	ev   *redis.Cmd
}

// createCalls builds each request's script run; a request that cannot be
// written gets its error in out and no call.
func (s *Store) createCalls(ctx context.Context, reqs []CreateRequest, out []CreateResult) []*createCall {
	var calls []*createCall
	for i, r := range reqs {
		keys, args, err := s.createCall(ctx, r.Message, r.Audiences)
		if err != nil {
			out[i].Err = err
			continue
		}
		calls = append(calls, &createCall{i: i, keys: keys, args: args})
	}
	return calls
}

// runCreates sends every call in one pipeline, followed by a WAIT when
// writes wait for replicas; it returns the WAIT (nil without one) and the
// pipeline's error.
func (s *Store) runCreates(ctx context.Context, calls []*createCall) (*redis.Cmd, error) {
	var wait *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			c.ev = scriptCreateMessage.EvalSha(ctx, p, c.keys, c.args...)
		}
		if s.waitReplicas > 0 {
			wait = p.Do(ctx, "wait", s.waitReplicas, s.waitTimeout.Milliseconds())
		}
		return nil
	})
	return wait, err
}

// anyNoScript reports whether Redis had lost the script (a restart or
// SCRIPT FLUSH) for any call.
func anyNoScript(calls []*createCall) bool {
	for _, c := range calls {
		if c.ev.Err() != nil && redis.HasErrorPrefix(c.ev.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}
