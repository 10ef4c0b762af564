package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Durability (docs/decisions.md#18). Redis answers a write once it is in
// the primary's memory; with appendfsync everysec a host crash loses the
// last second of writes, accepted messages included. With WithReplicas the
// writes that make a request "accepted" (a message, a device) are followed,
// on the same connection and in the same round trip, by WAIT n timeout:
// Redis answers it with how many replicas acknowledged every write this
// connection made so far. Fewer than n is ErrNotReplicated: the caller
// answers 503 and the client retries (with its transactionId the retry
// finds the first write and writes nothing twice).

// ErrNotReplicated is wrapped by a write that fewer replicas acknowledged
// than configured within the timeout. The write happened on the primary:
// it may survive or be lost with the primary.
var ErrNotReplicated = errors.New("write not acknowledged by enough Redis replicas")

// NotReplicatedError says how many replicas acknowledged a write.
type NotReplicatedError struct {
	Want, Got int
	Timeout   time.Duration
}

func (e *NotReplicatedError) Error() string {
	return fmt.Sprintf("%s: %d of %d replicas acknowledged within %s", ErrNotReplicated, e.Got, e.Want, e.Timeout)
}

func (e *NotReplicatedError) Unwrap() error { return ErrNotReplicated }

// WithReplicas makes message and device writes wait until n replicas have
// them, at most timeout (n = 0: answer as soon as the primary has them).
// The wait shares the write's pipeline, whose replies are read within the
// client's read timeout, so timeout must stay below it (config checks it).
func WithReplicas(n int, timeout time.Duration) Option {
	return func(s *Store) { s.waitReplicas, s.waitTimeout = n, timeout }
}

// runDurable runs sc and, when replicas are configured, WAIT on the same
// connection right after it (runCalls: on a cluster, the connection to the
// master of keys[0], which holds every key of the call).
func (s *Store) runDurable(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, error) {
	c := newCall(sc, keys, args...)
	perr := s.runCalls(ctx, []*scriptCall{c}, true)
	raw, err := s.result(c)
	if raw == nil && err == nil {
		err = perr
	}
	return raw, err
}

// waitError is what a group's WAIT says: nil when enough replicas
// acknowledged, a *NotReplicatedError when too few did, or the WAIT's own
// error.
func (s *Store) waitError(wait *redis.Cmd) error {
	if wait == nil {
		return nil
	}
	n, err := wait.Int()
	if err != nil {
		return fmt.Errorf("wait for replicas: %w", err)
	}
	if n < s.waitReplicas {
		return &NotReplicatedError{Want: s.waitReplicas, Got: n, Timeout: s.waitTimeout}
	}
	return nil
}
