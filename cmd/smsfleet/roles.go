package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/logging"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

const (
	allHelp = `Runs the intake API and the worker in one process against the Redis at
SMSFLEET_REDIS_ADDR. Without SMSFLEET_SIMULATOR_URL the provider simulator
runs in-process and is mounted at /simulator/.`
	apiHelp = `Serves the intake API on SMSFLEET_HTTP_ADDR: POST /json/1.3/<method>
(Pushwoosh-compatible), GET /api/v1/messages[/{code}], /healthz, /readyz.
Needs at least one application in SMSFLEET_APPLICATIONS.`
	workerHelp = `Runs the asynq worker over the otp, transactional, dispatch and marketing
lanes: fans out due messages and sends each SMS through the provider at
SMSFLEET_SIMULATOR_URL. Serves /healthz and /readyz on SMSFLEET_HTTP_ADDR.`
)

func runRoles(api, worker bool) func(context.Context, io.Writer) error {
	return func(ctx context.Context, _ io.Writer) error {
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		if api && len(cfg.Applications) == 0 {
			return fmt.Errorf("config: SMSFLEET_APPLICATIONS is empty; the API would accept no one")
		}
		log, err := logging.New(cfg.LogLevel, orDefault(cfg.LogFormat, "json"))
		if err != nil {
			return err
		}
		defer func() { _ = log.Sync() }()
		var sim *simulator.Simulator
		if worker && api && cfg.SimulatorURL == "" {
			sim = simulator.New("simulator", 0)
		}
		return serve(ctx, cfg, fleet.Options{Config: cfg, Roles: fleet.Roles{API: api, Worker: worker}, Log: log, Simulator: sim}, nil)
	}
}

// serve starts the fleet and its listener, calls ready (if any) once both
// are up, and blocks until ctx is done.
func serve(ctx context.Context, cfg config.Config, opts fleet.Options, ready func(addr string)) error {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on SMSFLEET_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	// A ":0" address is resolved now so the in-process simulator URL is real.
	opts.Config.HTTPAddr = ln.Addr().String()
	f, err := fleet.New(ctx, opts)
	if err != nil {
		_ = ln.Close()
		return err
	}
	if err := f.Start(); err != nil {
		_ = ln.Close()
		return err
	}
	opts.Log.Info("smsfleet started", zap.String("addr", opts.Config.HTTPAddr), zap.Bool("api", opts.Roles.API), zap.Bool("worker", opts.Roles.Worker))
	if ready != nil {
		ready(opts.Config.HTTPAddr)
	}
	err = f.Serve(ctx, ln)
	opts.Log.Info("smsfleet stopped")
	return err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
