package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/logging"
	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/redisx"
)

const monitorHelp = `Serves the Asynq web monitor for on-call on SMSFLEET_HTTP_ADDR, over the
Redis at SMSFLEET_REDIS_ADDR:
  /monitoring/   the lanes (otp, transactional, marketing, dispatch) with their
                 pending, scheduled, retry and archived tasks; a send task shows
                 its SMS (masked phone, status, provider, attempts)
  /metrics       Prometheus: asynq_* queue metrics (queue size, latency, tasks
                 by state) plus Go and process metrics; run one monitor per
                 fleet, the queue collector reads every queue on each scrape
  /healthz, /readyz (Redis ping)
HTTP basic auth guards /monitoring/ with SMSFLEET_MONITOR_USER (default admin)
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
		return fmt.Errorf("redis at %s: %w", cfg.Redis.Addr, err)
	}
	m, err := monitor.New(ctx, monitor.Options{Config: cfg.Monitor, Redis: rdb, Log: log.Named("monitor")})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(m.RootPath()+"/", m.Handler())
	mux.Handle("GET /metrics", m.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := redisx.Ping(ctx, rdb); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /{$}", http.RedirectHandler(m.RootPath()+"/", http.StatusFound))

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on SMSFLEET_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	log.Info("smsfleet monitor started", zap.String("addr", addr), zap.String("redis", cfg.Redis.Addr))
	fmt.Fprintf(stdout, "smsfleet monitor on http://%s%s/ (metrics on /metrics)\n", addr, m.RootPath())
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Grace period over: drop the connections still open.
		log.Warn("http shutdown", zap.Error(err))
		_ = srv.Close()
	}
	log.Info("smsfleet monitor stopped")
	return nil
}
