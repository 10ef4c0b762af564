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
	allHelp = `Runs the intake API and the worker in one process against the fleet's Redis
(SMSFLEET_REDIS_MODE, SMSFLEET_REDIS_ADDR or SMSFLEET_REDIS_ADDRS). It sends
through the providers in SMSFLEET_CONFIG, or the simulator at
SMSFLEET_SIMULATOR_URL; with none of them it refuses to start.
SMSFLEET_SIMULATOR=inprocess runs the provider simulator in the process,
mounted at /simulator/ without authentication: for a test fleet only.`
	apiHelp = `Serves the intake API on SMSFLEET_HTTP_ADDR: POST /json/1.3/<method>
(Pushwoosh-compatible), GET /api/v1/messages[/{code}], /healthz, /readyz.
Needs at least one application in SMSFLEET_APPLICATIONS.`
	receiptsHelp = `Serves the delivery-receipt webhooks (POST /webhooks/dlr/<provider>) on
SMSFLEET_HTTP_ADDR, landing every receipt in the Kafka topic smsfleet.receipts
(answering 503 while Kafka is down, so providers retry), and applies the topic
to the delivery state as a member of the consumer group SMSFLEET_RECEIPTS_GROUP.
Needs SMSFLEET_KAFKA_BROKERS.`
	workerHelp = `Runs the asynq worker over the otp, transactional, dispatch and marketing
lanes: fans out due messages and sends each SMS through the providers in
SMSFLEET_CONFIG, or the simulator at SMSFLEET_SIMULATOR_URL (or, for a test
fleet, SMSFLEET_SIMULATOR=inprocess). Serves /healthz and /readyz on
SMSFLEET_HTTP_ADDR.`
)

func runRoles(api, worker bool) func(context.Context, io.Writer) error {
	return runFleet(fleet.Roles{API: api, Worker: worker}, api && worker)
}

// runFleet runs roles; with allRoles (`smsfleet all`) the receipts role
// joins when Kafka is configured.
func runFleet(roles fleet.Roles, allRoles bool) func(context.Context, io.Writer) error {
	return func(ctx context.Context, _ io.Writer) error {
		api, worker := roles.API, roles.Worker
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		if allRoles && len(cfg.Kafka.Brokers) > 0 {
			roles.Receipts = true
		}
		if api && len(cfg.Applications) == 0 {
			return fmt.Errorf("config: SMSFLEET_APPLICATIONS is empty; the API would accept no one")
		}
		if worker {
			if err := cfg.RequireProvider(); err != nil {
				return err
			}
		}
		log, err := logging.New(cfg.LogLevel, orDefault(cfg.LogFormat, "json"))
		if err != nil {
			return err
		}
		defer func() { _ = log.Sync() }()
		// Only when asked for: the simulator has no authentication, lists
		// every number and text it took, and lets anyone set its faults.
		var sim *simulator.Simulator
		if worker && cfg.InProcessSimulator() {
			sim = simulator.New("simulator", 0)
			log.Warn("SMSFLEET_SIMULATOR=inprocess: the provider simulator is mounted at /simulator/ without authentication; for a test fleet only")
		}
		return serve(ctx, cfg, fleet.Options{Config: cfg, Roles: roles, Log: log, Simulator: sim}, nil)
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
	if opts.Config.PublicURL == "" && opts.Simulator != nil {
		// A local demo: the in-process simulator posts receipts back here.
		opts.Config.PublicURL = "http://" + opts.Config.HTTPAddr
	}
	f, err := fleet.New(ctx, opts)
	if err != nil {
		_ = ln.Close()
		return err
	}
	if err := f.Start(); err != nil {
		_ = ln.Close()
		return err
	}
	opts.Log.Info("smsfleet started", zap.String("addr", opts.Config.HTTPAddr), zap.Bool("api", opts.Roles.API), zap.Bool("worker", opts.Roles.Worker), zap.String("redis", opts.Config.Redis.Describe()))
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
