package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/alicebob/miniredis/v2"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/logging"
	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/quota"
	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/receipts"
)

const devHelp = `Runs every role in one process with an embedded Redis (miniredis, in memory:
everything is gone when it stops), an embedded Kafka (kfake, on
SMSFLEET_DEV_KAFKA_ADDR) and the provider simulator mounted at /simulator/, as
two providers: sim-a (primary) and sim-b (fallback), which post delivery
receipts back (numbers ending 0002 undelivered, 0003 never a receipt). It seeds the application SMSFLEET_DEV_APPLICATION (default
DEMO0-00000) with the server token SMSFLEET_DEV_AUTH (default dev-token) and
accepts device calls without a token. Stop it with Ctrl-C.`

func runDev(ctx context.Context, stdout io.Writer) error {
	cfg, err := config.LoadDev()
	if err != nil {
		return err
	}
	mr, err := miniredis.Run()
	if err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	defer mr.Close()
	cfg.Redis = config.Redis{Addr: mr.Addr()}
	kafkaAddr, stopKafka, err := embeddedKafka(cfg.DevKafkaAddr)
	if err != nil {
		return err
	}
	defer stopKafka()
	cfg.Kafka.Brokers = []string{kafkaAddr}
	dev := config.Application{Code: cfg.DevApplication, ServerToken: cfg.DevAuth, OpenDevices: true, CallbackSecret: cfg.DevCallbackSecret}
	// A demo's callback receiver is usually on the same machine, and
	// plain http (the README's walk-through uses http://127.0.0.1:9000).
	cfg.Callback.AllowPrivate = true
	apps := config.Applications{dev}
	for _, a := range cfg.Applications {
		if a.Code != dev.Code {
			apps = append(apps, a)
		}
	}
	for i := range apps {
		apps[i].CallbackAllowHTTP = true
	}
	cfg.Applications = apps
	if len(cfg.Providers) == 0 {
		// Two simulated providers, so a newcomer can take the primary down
		// and watch traffic fail over to the fallback and come back.
		cfg.Providers = []provider.Config{{Name: "sim-a", Kind: provider.KindSimulator}, {Name: "sim-b", Kind: provider.KindSimulator}}
		if len(cfg.DefaultRoute.Providers) == 0 {
			cfg.DefaultRoute = config.Route{Providers: []string{"sim-a", "sim-b"}}
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel, orDefault(cfg.LogFormat, "console"))
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	sim := simulator.New("simulator", 100_000)
	// Signed with the dev run's simulator secret (SMSFLEET_SIMULATOR_SECRET,
	// dev-simulator-secret when unset), which the simulator providers
	// check.
	sim.SendReceipts(cfg.SimDLRDelay, cfg.SimulatorSecret)
	// The Asynq web monitor at /monitoring/ (user admin, password the dev
	// token unless SMSFLEET_MONITOR_PASSWORD says otherwise), and its asynq
	// queue metrics at /monitoring/metrics (behind the same login).
	if cfg.Monitor.Password == "" {
		cfg.Monitor.Password = cfg.DevAuth
	}
	monRedis := redisx.New(cfg.Redis)
	defer func() { _ = monRedis.Close() }()
	mon, err := monitor.New(ctx, monitor.Options{Config: cfg.Monitor, Redis: monRedis, Shards: cfg.LaneShards(), Log: log.Named("monitor"),
		Guard: authguard.New(authguard.Options{Surface: "monitor", Failures: cfg.AuthFailures, Window: cfg.AuthFailureWindow, Log: log.Named("auth")})})
	if err != nil {
		return err
	}
	opts := fleet.Options{Config: cfg, Roles: fleet.Roles{API: true, Worker: true, Receipts: true}, Log: log, Simulator: sim,
		Mounts: map[string]http.Handler{mon.RootPath() + "/": mon.Handler(), mon.RootPath() + "/metrics": mon.MetricsHandler(),
			mon.RootPath() + "/traffic": mon.TrafficHandler(monitor.TrafficOptionsFor(cfg, monRedis, log.Named("monitor")))}}
	return serve(ctx, cfg, opts, func(addr string) {
		fmt.Fprintf(stdout, `
  smsfleet dev is running (embedded Redis, provider simulator; nothing is kept)

    API          http://%[1]s/json/1.3/<method>
    native API   http://%[1]s/api/v1/messages
    simulator    http://%[1]s/simulator/messages   (providers sim-a, then sim-b;
                 webhook secret %[6]s)
    monitor      http://%[1]s/monitoring/   (%[5]s)
    history      http://%[1]s/history/   (sign in with the auth token below)
    application  %[2]s
    auth token   %[3]s
    admin token  %[7]s   (operator API: /api/v1/admin/providers)
    kafka        %[4]s   (topics smsfleet.receipts, smsfleet.outcomes, smsfleet.inbound, smsfleet.quota, and the .dlq of receipts and inbound)

  Take sim-a down (traffic moves to sim-b) and back up:
    curl -s http://%[1]s/simulator/sim-a/faults -d '{"down":true}'
    curl -s http://%[1]s/simulator/sim-a/faults -d '{"down":false}'

  Try: curl -s http://%[1]s/json/1.3/createMessage -d '{"request":{"application":"%[2]s","auth":"%[3]s","notifications":[{"send_date":"now","content":"Hello","devices":["+447911123456"],"use_auto_registration":true}]}}'

`, addr, dev.Code, dev.ServerToken, kafkaAddr, monitorLogin(cfg.Monitor), cfg.SimulatorSecret, cfg.Admin.Token)
	})
}

// embeddedKafka starts kfake on addr (port 0: any free port) with the
// receipts topics, and returns where it listens.
func embeddedKafka(addr string) (string, func(), error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic, inbound.Topic, inbound.TopicDLQ, quota.Topic), kfake.AllowAutoTopicCreation()}
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("SMSFLEET_DEV_KAFKA_ADDR %q: %w", addr, err)
	}
	if port, _ := strconv.Atoi(portStr); port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return "", nil, fmt.Errorf("embedded Kafka on %s (set SMSFLEET_DEV_KAFKA_ADDR to another address): %w", addr, err)
	}
	return c.ListenAddrs()[0], c.Close, nil
}

// monitorLogin is what the dev banner says about the monitor's login: the
// dev token it defaults to, never a password set in the environment.
func monitorLogin(c config.Monitor) string {
	mode := "read-only"
	if !c.ReadOnly {
		mode = "read-write"
	}
	switch {
	case c.Auth == "none":
		return "no login, " + mode
	case os.Getenv("SMSFLEET_MONITOR_PASSWORD") != "":
		return c.User + " / $SMSFLEET_MONITOR_PASSWORD, " + mode
	}
	return c.User + " / " + c.Password + ", " + mode
}
