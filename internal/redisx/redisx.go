// Package redisx builds the go-redis client every role shares (asynq runs
// on the same client) and counts round trips for benchmarks.
package redisx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
)

// DefaultTimeout is the client's timeout when cfg.Timeout is zero (the
// default SMSFLEET_REDIS_TIMEOUT).
const DefaultTimeout = 3 * time.Second

// New returns a client for cfg, per its mode (SMSFLEET_REDIS_MODE): a
// plain client (standalone), a failover client that asks the sentinels
// for the current primary and follows it through a failover (sentinel),
// or a cluster client (cluster). It does not dial; call Ping to check.
// asynq, the monitor and the store all run on the client it returns.
//
// Every mode has the same settings: a dial, a read, a write and the wait
// for a pooled connection each give up after cfg.Timeout, and a command is
// tried at most twice (go-redis's defaults, 5 s and four tries, held an
// API request for 20 s and more while Redis was frozen). A context's
// deadline wins when it is sooner (ContextTimeoutEnabled): the HTTP roles
// give every request one.
func New(cfg config.Redis) redis.UniversalClient {
	s := settings(cfg)
	switch cfg.ModeOrDefault() {
	case config.RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.MasterName, SentinelAddrs: cfg.Endpoints(),
			SentinelUsername: cfg.SentinelUsername, SentinelPassword: cfg.SentinelPassword,
			Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
			PoolSize: s.PoolSize, DialTimeout: s.DialTimeout, ReadTimeout: s.ReadTimeout, WriteTimeout: s.WriteTimeout,
			PoolTimeout: s.PoolTimeout, MaxRetries: s.MaxRetries, ContextTimeoutEnabled: s.ContextTimeoutEnabled, TLSConfig: s.TLSConfig,
		})
	case config.RedisCluster:
		// PoolSize is per node; commands go to the node that holds their
		// key's slot, following MOVED/ASK redirects.
		cc := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:    cfg.Endpoints(),
			Username: cfg.Username, Password: cfg.Password,
			PoolSize: s.PoolSize, DialTimeout: s.DialTimeout, ReadTimeout: s.ReadTimeout, WriteTimeout: s.WriteTimeout,
			PoolTimeout: s.PoolTimeout, MaxRetries: s.MaxRetries, ContextTimeoutEnabled: s.ContextTimeoutEnabled, TLSConfig: s.TLSConfig,
		})
		FollowFailovers(cc)
		return cc
	}
	s.Addr, s.Username, s.Password, s.DB = cfg.Endpoints()[0], cfg.Username, cfg.Password, cfg.DB
	return redis.NewClient(s)
}

// settings are the options every mode shares: timeouts, pool, retries,
// TLS.
func settings(cfg config.Redis) *redis.Options {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opt := &redis.Options{
		// asynq's blocking and Lua calls plus our pipelines: a pool a bit
		// larger than the default keeps 50 concurrent handlers from queueing.
		PoolSize:              64,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		MaxRetries:            1,
		ContextTimeoutEnabled: true,
	}
	if cfg.TLS {
		// No ServerName: the TLS dialer takes it from each address dialled,
		// so every node (and sentinel) is checked against its own name.
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSInsecure} //nolint:gosec // opt-in for test clusters
	}
	return opt
}

// Ping checks that Redis answers; readiness probes use it.
func Ping(ctx context.Context, c redis.UniversalClient) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Unavailable reports whether err means Redis did not answer (in time)
// rather than that a command was wrong: a timeout or deadline, a refused,
// reset or closed connection, a pool with no free connection, or a server
// that cannot serve yet (LOADING, MASTERDOWN, READONLY after a failover,
// BUSY with a script, TRYAGAIN). Callers answer these with 503 and
// Retry-After: the same request may well succeed a moment later.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, prefix := range []string{"LOADING", "MASTERDOWN", "READONLY", "BUSY", "TRYAGAIN", "CLUSTERDOWN"} {
			if strings.HasPrefix(msg, prefix) {
				return true
			}
		}
	}
	return false
}

// RoundTrips counts what a client sends: one per command outside a
// pipeline, one per pipeline or transaction. Add it with AddHook.
type RoundTrips struct{ n atomic.Int64 }

// Count returns the round trips seen so far.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// DialHook implements redis.Hook.
func (r *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}
