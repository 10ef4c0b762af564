// Package redisx builds the go-redis client every role shares (asynq runs
// on the same client) and counts round trips for benchmarks.
package redisx

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
)

// New returns a client for cfg. It does not dial; call Ping to check.
func New(cfg config.Redis) *redis.Client {
	opt := &redis.Options{
		Addr:     cfg.Addr,
		Username: cfg.Username,
		Password: cfg.Password,
		DB:       cfg.DB,
		// asynq's blocking and Lua calls plus our pipelines: a pool a bit
		// larger than the default keeps 50 concurrent handlers from queueing.
		PoolSize: 64,
	}
	if cfg.TLS {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: cfg.TLSInsecure} //nolint:gosec // opt-in for test clusters
	}
	return redis.NewClient(opt)
}

// Ping checks that Redis answers; readiness probes use it.
func Ping(ctx context.Context, c redis.UniversalClient) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
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
