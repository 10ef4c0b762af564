package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// ErrNotFound is returned when a device, message or SMS does not exist (or
// belongs to another application, which callers must not be able to tell).
var ErrNotFound = errors.New("not found")

// Store is the Redis-backed delivery state. It is safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient
	k         *keyspace
	retention time.Duration
	// retentionsOf: see WithRetentions (privacy.go).
	retentionsOf func(app string) Retentions
	now          func() time.Time
	// waitReplicas and waitTimeout: see WithReplicas.
	waitReplicas int
	waitTimeout  time.Duration
	// deviceLimit: see WithDeviceLimit.
	deviceLimit int
	// ids derives SMS ids (WithIDs; loaded from Redis on first use when
	// not given, under idsMu).
	idsMu sync.Mutex
	ids   sms.IDs
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes now the store's one clock: every timestamp it writes and
// every "is it due" it asks comes from it, so a fleet whose clock is
// injected (tests) sees its own time in Redis too. nil means time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns a store on rdb; records expire after retention.
func New(rdb redis.UniversalClient, retention time.Duration, opts ...Option) *Store {
	s := &Store{rdb: rdb, k: newKeyspace(PlainLayout), retention: retention, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Redis returns the underlying client.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// LoadScripts makes sure Redis has every script, so pipelined EVALSHA calls
// do not meet NOSCRIPT. Safe to call again (after a Redis restart).
func (s *Store) LoadScripts(ctx context.Context) error {
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("load script: %w", err)
		}
	}
	return nil
}

// runPipelined runs build's EVALSHA calls in one pipeline. If Redis lost its
// scripts (restart, SCRIPT FLUSH) it reloads them and runs the pipeline
// again; every script here is idempotent, so that is safe.
func (s *Store) runPipelined(ctx context.Context, build func(p redis.Pipeliner) []*redis.Cmd) ([]*redis.Cmd, error) {
	for try := 0; ; try++ {
		var cmds []*redis.Cmd
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			cmds = build(p)
			return nil
		})
		if err != nil && try == 0 && isNoScript(err, cmds) {
			if lerr := s.LoadScripts(ctx); lerr != nil {
				return nil, lerr
			}
			continue
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			return cmds, fmt.Errorf("redis pipeline: %w", err)
		}
		return cmds, nil
	}
}

func isNoScript(err error, cmds []*redis.Cmd) bool {
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		return true
	}
	for _, c := range cmds {
		if c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// decodeJSON decodes a script's cjson-encoded result into v: every script
// that returns more than one value returns a table encoded by cjson, so Go
// reads it by name, never by position.
func decodeJSON(res any, v any) error {
	raw, ok := res.(string)
	if !ok {
		return fmt.Errorf("script result %T, want JSON", res)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("script result: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(s string) time.Time {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func hourBucket(t time.Time) string { return t.UTC().Format("2006010215") }

func ttlSeconds(d time.Duration) int64 { return int64(d / time.Second) }

// joinChunk and splitChunk are the recipient-chunk encoding.
func joinChunk(phones []string) string { return strings.Join(phones, chunkSep) }

func splitChunk(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, chunkSep)
}
