package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scriptCall is one script run within a pipeline (runCalls).
type scriptCall struct {
	sc   *redis.Script
	keys []string
	args []any
	// cmd is the run's reply; wait the WAIT that covers it (durable runs
	// with replicas configured, else nil).
	cmd  *redis.Cmd
	wait *redis.Cmd
}

func newCall(sc *redis.Script, keys []string, args ...any) *scriptCall {
	return &scriptCall{sc: sc, keys: keys, args: args}
}

// runCalls runs calls pipelined (with a Redis Cluster, the client sends
// each node its share at once). durable: when replicas are configured,
// each connection that wrote is followed by WAIT on that connection
// (docs/decisions.md#18): one for a standalone or Sentinel primary, one
// per master that took a write on a cluster (WAIT counts the writes of
// the connection it runs on, so it must run on that master's: the calls
// are grouped by MasterForKey of their first key). Calls that met
// NOSCRIPT (a Redis restart or SCRIPT FLUSH) are run again, once, after
// the scripts are loaded; only those, as the others ran. Every script
// here is idempotent for such a rerun. The error is the pipeline's (a
// connection failure); each call's own error is in its cmd.
func (s *Store) runCalls(ctx context.Context, calls []*scriptCall, durable bool) error {
	err := s.runCallsOnce(ctx, calls, durable)
	var again []*scriptCall
	for _, c := range calls {
		if c.cmd != nil && c.cmd.Err() != nil && redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) == 0 {
		return err
	}
	if lerr := s.LoadScripts(ctx); lerr != nil {
		return lerr
	}
	return s.runCallsOnce(ctx, again, durable)
}

func (s *Store) runCallsOnce(ctx context.Context, calls []*scriptCall, durable bool) error {
	durable = durable && s.waitReplicas > 0
	cc, cluster := s.rdb.(*redis.ClusterClient)
	if !durable || !cluster {
		return pipeCalls(ctx, s.rdb, calls, s.waitArgs(durable))
	}
	groups := map[*redis.Client][]*scriptCall{}
	for _, c := range calls {
		node, err := cc.MasterForKey(ctx, c.keys[0])
		if err != nil {
			return fmt.Errorf("redis cluster: master of %s: %w", c.keys[0], err)
		}
		groups[node] = append(groups[node], c)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for node, cs := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pipeCalls(ctx, node, cs, s.waitArgs(true)); err != nil {
				mu.Lock()
				first = firstErr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// waitArgs is the WAIT a durable pipeline ends with (nil: none).
func (s *Store) waitArgs(durable bool) []any {
	if !durable || s.waitReplicas <= 0 {
		return nil
	}
	return []any{"wait", s.waitReplicas, s.waitTimeout.Milliseconds()}
}

// pipeCalls runs calls in one pipeline on c, then wait when given.
func pipeCalls(ctx context.Context, c redis.Cmdable, calls []*scriptCall, wait []any) error {
	var w *redis.Cmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, call := range calls {
			call.cmd = call.sc.EvalSha(ctx, p, call.keys, call.args...)
		}
		if wait != nil {
			w = p.Do(ctx, wait...)
		}
		return nil
	})
	for _, call := range calls {
		call.wait = w
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis pipeline: %w", err)
	}
	return nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// result is a call's reply and error: its own, or the WAIT's (a
// *NotReplicatedError comes with the reply: the write happened on the
// primary).
func (s *Store) result(c *scriptCall) (any, error) {
	if c.cmd == nil { // the pipeline never ran: runCalls' error says why
		return nil, nil
	}
	raw, err := c.cmd.Result()
	if err != nil {
		return nil, err
	}
	if werr := s.waitError(c.wait); werr != nil {
		var nr *NotReplicatedError
		if !errors.As(werr, &nr) {
			return nil, werr
		}
		return raw, werr
	}
	return raw, nil
}
