package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/logging"
	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/redisx"
)

const monitorHelp = `Serves the Asynq web monitor for on-call on SMSFLEET_HTTP_ADDR, over the
fleet's Redis (SMSFLEET_REDIS_MODE: SMSFLEET_REDIS_ADDR, or the sentinels or cluster
nodes in SMSFLEET_REDIS_ADDRS):
  /monitoring/   the lanes (otp, transactional, marketing, dispatch) with their
                 pending, scheduled, retry and archived tasks; a send task shows
                 its SMS (masked phone, status, provider, attempts)
  /monitoring/traffic  the live traffic state: drained providers, weights,
                 paused lanes and applications, delivery quality and weight
                 factors, the state each pod applies, and the audit trail
  /metrics       Prometheus: asynq_* queue metrics (queue size, latency, tasks
                 by state) plus Go and process metrics; run one monitor per
                 fleet, the queue collector reads every queue on each scrape;
                 behind the same auth as /monitoring/
  /healthz, /readyz (Redis ping)
HTTP basic auth guards /monitoring/ and /metrics with SMSFLEET_MONITOR_USER (default admin)
and SMSFLEET_MONITOR_PASSWORD (required); SMSFLEET_MONITOR_AUTH=none turns it
off, only behind an authenticating proxy. Read-only unless
SMSFLEET_MONITOR_READ_ONLY=false (retry, delete, archive, pause).`

func runMonitor(ctx context.Context, stdout io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if err := monitor.CheckConfig(cfg.Monitor); err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel, orDefault(cfg.LogFormat, "json"))
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	rdb := redisx.New(cfg.Redis)
	defer func() { _ = rdb.Close() }()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = redisx.Ping(pctx, rdb)
	cancel()
	if err != nil {
		return fmt.Errorf("redis (%s): %w", cfg.Redis.Describe(), err)
	}
	guard := authguard.New(authguard.Options{Surface: "monitor", Failures: cfg.AuthFailures, Window: cfg.AuthFailureWindow, Log: log.Named("auth")})
	m, err := monitor.New(ctx, monitor.Options{Config: cfg.Monitor, Redis: rdb, Shards: cfg.LaneShards(), Guard: guard, Log: log.Named("monitor")})
	if err != nil {
		return err
	}
	role := httprole.New(httprole.Options{
		Checks: []httprole.Check{{Name: "redis", Check: func(ctx context.Context) error { return redisx.Ping(ctx, rdb) }}},
		Grace:  cfg.ShutdownGrace, Log: log.Named("http"),
		Limits: httprole.Limits(cfg.HTTP),
	})
	mux := role.Mux()
	mux.Handle(m.RootPath()+"/", m.Handler())
	mux.Handle("GET "+m.RootPath()+"/traffic", m.TrafficHandler(monitor.TrafficOptionsFor(cfg, rdb, log.Named("monitor"))))
	mux.Handle("GET /metrics", m.MetricsHandler())
	mux.Handle("GET /{$}", http.RedirectHandler(m.RootPath()+"/", http.StatusFound))

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on SMSFLEET_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	addr := ln.Addr().String()
	log.Info("smsfleet monitor started", zap.String("addr", addr), zap.String("redis", cfg.Redis.Describe()))
	fmt.Fprintf(stdout, "smsfleet monitor on http://%s%s/ (metrics on /metrics)\n", addr, m.RootPath())
	if err := role.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("smsfleet monitor stopped")
	return nil
}
