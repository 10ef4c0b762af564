// Package fleet wires smsfleet's roles (intake API, worker) onto one Redis
// and one HTTP listener. The subcommands and the end-to-end tests start the
// fleet through it, so tests run the same wiring as production.
package fleet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/intake"
	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/guard"
	"github.com/smsfleet/smsfleet/internal/history"
	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/lifecycle"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/receipts"
	"github.com/smsfleet/smsfleet/worker"
	"github.com/smsfleet/smsfleet/worker/route"
)

// Roles says which parts run in this process.
type Roles struct {
	API      bool
	Worker   bool
	Receipts bool
}

// Options configure a fleet process.
type Options struct {
	Config config.Config
	Roles  Roles
	Log    *zap.Logger
	// Redis is the client to use; nil builds one from Config.Redis.
	Redis redis.UniversalClient
	// Providers send the SMS; nil builds them from Config (see
	// buildProviders).
	Providers []provider.Provider
	// NoBreakers calls providers bare (benchmarks measure the breaker's
	// cost this way).
	NoBreakers bool
	// Simulator, when set, is mounted at /simulator/ on the HTTP listener.
	Simulator *simulator.Simulator
	// Mounts are extra handlers on the HTTP listener by path prefix (the
	// Asynq web monitor at /monitoring/ in dev).
	Mounts map[string]http.Handler
	// Now is the fleet's one clock: the intake, the worker's sender, the
	// enqueuer, the outcome relay and the supervisor read time from it
	// (tests schedule a few seconds ahead with it). The store has its own,
	// given to store.New.
	Now func() time.Time
}

// Fleet is a running (or ready to run) smsfleet process.
type Fleet struct {
	opts     Options
	log      *zap.Logger
	rdb      redis.UniversalClient
	ownRedis bool
	store    *store.Store
	client   *asynq.Client
	insp     *asynq.Inspector
	// lanes are the queues the worker role serves (worker.LaneQueues).
	lanes    worker.Lanes
	servers  []*asynq.Server
	router   *route.Router
	rates    *worker.Rates
	receipts *receiptsRole
	inbound  *inboundRole
	relay    *outcomes.Relay
	closers  []io.Closer
	// conns hold the providers' own connections (SMPP) and land the
	// receipts that arrive on them; the supervisor runs them.
	conns []lifecycle.Component
	enq   *dispatcher.Enqueuer
	// http is the listener with /healthz and /readyz; its shutdown runs
	// the fleet's (stop).
	http *httprole.Role
	mux  *http.ServeMux
	// sup runs the background components (see Start for the order).
	sup *lifecycle.Supervisor
	// traffic is the live traffic control and delivery quality (traffic.go).
	traffic trafficParts
	// guards are the applications' guards (guards.go).
	guards *guard.Guards
}

// New builds a fleet. It checks Redis and loads the store's scripts.
func New(ctx context.Context, o Options) (*Fleet, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := checkSenders(o.Config); err != nil {
		return nil, err
	}
	if _, err := buildRates(o.Config, nil); err != nil {
		return nil, err
	}
	f := &Fleet{opts: o, log: o.Log, rdb: o.Redis}
	// The simulator's latency faults, and a large history export, outlast
	// any request deadline.
	noDeadline := []string{"/simulator/", history.ExportPrefix}
	for prefix := range o.Mounts {
		noDeadline = append(noDeadline, prefix)
	}
	f.http = httprole.New(httprole.Options{
		Checks: f.readiness(), Grace: o.Config.ShutdownGrace, OnStop: f.stop, Log: o.Log.Named("http"),
		RequestTimeout: o.Config.RequestTimeout, NoDeadline: noDeadline,
		Limits: httprole.Limits(o.Config.HTTP),
	})
	f.mux = f.http.Mux()
	f.sup = lifecycle.New(lifecycle.Options{Log: o.Log.Named("lifecycle"), Now: o.Now})
	if err := f.connect(ctx); err != nil {
		f.close()
		return nil, err
	}
	if o.Simulator != nil {
		f.mux.Handle("/simulator/", o.Simulator.Handler())
	}
	for prefix, h := range o.Mounts {
		f.mux.Handle(prefix, h)
	}
	rates, err := buildRates(o.Config, f.rdb)
	if err != nil {
		f.close()
		return nil, err
	}
	f.rates = rates
	f.buildTraffic(ctx)
	f.buildGuards(ctx)
	perFleet := prometheus.NewRegistry()
	perFleet.MustRegister(newRateCollector(rates, o.Log.Named("metrics")), newTrafficCollector(f.traffic.watcher))
	if qs := f.quotaStore(); qs != nil {
		perFleet.MustRegister(newQuotaCollector(qs, o.Config))
	}
	f.mux.Handle("GET /metrics", metrics.Handler(perFleet))
	if o.Roles.Receipts {
		if err := f.buildReceipts(); err != nil {
			f.close()
			return nil, err
		}
		f.receiptsMeasured()
	}
	if o.Roles.Worker {
		if err := f.buildWorker(); err != nil {
			f.close()
			return nil, err
		}
	}
	// After the worker: the operator API shows this process's breakers.
	if o.Roles.API {
		f.mountAPI()
	}
	return f, nil
}

// checkSenders refuses an application whose configured sender id is not
// one (before anything connects).
func checkSenders(cfg config.Config) error {
	for _, app := range cfg.Applications {
		if sender := cfg.PolicyOf(app.Code).Sender; sender != "" {
			if _, err := sms.NormalizeSender(sender); err != nil {
				return fmt.Errorf("config: application %s: sender: %w", app.Code, err)
			}
		}
	}
	return nil
}

// connect reaches Redis (the given client, or one from the
// configuration), loads the store's scripts and makes the asynq client,
// inspector and enqueuer on it.
func (f *Fleet) connect(ctx context.Context) error {
	o := f.opts
	if f.rdb == nil {
		f.rdb = redisx.New(o.Config.Redis)
		f.ownRedis = true
	}
	if err := redisx.Ping(ctx, f.rdb); err != nil {
		return fmt.Errorf("redis (%s): %w", o.Config.Redis.Describe(), err)
	}
	// Every role names keys in the layout the fleet's data was written
	// with, or refuses to start (before LoadIDs, whose key tells an older
	// version's data apart).
	layout, err := f.layout(ctx)
	if err != nil {
		return err
	}
	// Every role reads the fleet's one SMS id key before it serves: ids are
	// task ids, so a process with another key would send SMS twice.
	ids, err := store.LoadIDs(ctx, f.rdb, o.Config.IDSecret)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	// The scheme names the key by a fingerprint (not the key): pods that
	// log different ones do not share a key.
	o.Log.Info("SMS id key loaded", zap.String("id_scheme", string(ids.Scheme())))
	f.store = store.New(f.rdb, o.Config.Retention, store.WithClock(o.Now), store.WithIDs(ids),
		store.WithReplicas(o.Config.Redis.WaitReplicas, o.Config.Redis.WaitTimeout), store.WithDeviceLimit(o.Config.MaxDevicesPerApp),
		store.WithLayout(layout), store.WithRetentions(func(app string) store.Retentions { return store.Retentions(o.Config.RetentionsOf(app)) }))
	if err := f.store.LoadScripts(ctx); err != nil {
		return err
	}
	f.client = asynq.NewClientFromRedisClient(f.rdb)
	f.insp = asynq.NewInspectorFromRedisClient(f.rdb)
	f.enq = dispatcher.NewEnqueuer(f.store, f.client, o.Config.Worker.MaxAttempts, o.Config.Worker.SendTimeout, o.Now).WithBatch(o.Config.Worker.Batch).WithShards(o.Config.LaneShards())
	// The queues a worker serves: the lanes' shards, and those an earlier
	// SMSFLEET_LANE_SHARDS left with tasks in them.
	if f.lanes, err = worker.LaneQueues(f.insp, o.Config.LaneShards()); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// layout is the store's key layout for this configuration and client
// (tagged on a Redis Cluster, or with more than one partition), checked
// against the one the fleet's data records (store.CheckLayout).
func (f *Fleet) layout(ctx context.Context) (store.Layout, error) {
	_, cluster := f.rdb.(*redis.ClusterClient)
	layout, err := store.LayoutFor(f.opts.Config.Partitions(cluster), cluster)
	if err != nil {
		return store.Layout{}, fmt.Errorf("start: SMSFLEET_REDIS_PARTITIONS: %w", err)
	}
	if err := store.CheckLayout(ctx, f.rdb, layout); err != nil {
		return store.Layout{}, fmt.Errorf("start: %w", err)
	}
	f.opts.Log.Info("Redis key layout", zap.Stringer("layout", layout))
	return layout, nil
}

// mountAPI registers the intake API and the Message History pages on the
// fleet's listener. They share one auth-failure guard: a source guessing
// tokens spends one budget, whichever surface it tries.
func (f *Fleet) mountAPI() {
	o := f.opts
	guard := authguard.New(authguard.Options{Surface: "api", Failures: o.Config.AuthFailures, Window: o.Config.AuthFailureWindow,
		Now: o.Now, Log: o.Log.Named("auth")})
	intake.NewAPI(intake.Options{
		Rates:    &intake.RateStatus{Limits: f.rates.Limits, Limiter: f.rates.Limiter},
		Currency: o.Config.Prices.Currency,
		Store:    f.store, Enqueuer: f.enq, Inspector: f.insp, Apps: o.Config.Applications,
		MaxBodyBytes: o.Config.MaxBodyBytes, MaxRecipients: o.Config.MaxRecipients, DefaultRegion: o.Config.DefaultRegion,
		UnauthenticatedBodyBytes: o.Config.UnauthenticatedBodyBytes, MaxBodyBytesInFlight: o.Config.MaxBodyBytesInFlight,
		Guard: guard, Guards: f.guards,
		ChunkSize: o.Config.DispatchChunk,
		Quotas:    f.quotaStore(),
		Policy:    o.Config.PolicyOf, DeliveryWait: o.Config.DeliveryWait, CallbackSecret: o.Config.CallbackSecretOf, Logger: o.Log.Named("api"), Now: o.Now,
	}).Register(f.mux)
	f.mountAdmin(guard)
	history.New(history.Options{
		Store: f.store, Apps: o.Config.Applications, DefaultRegion: o.Config.DefaultRegion, Guard: guard,
		Logger: o.Log.Named("history"), Now: o.Now, Currency: o.Config.Prices.Currency, Sender: appSender(o.Config),
	}).Register(f.mux)
}

// buildWorker makes the worker role: the providers (given, or built from
// the configuration), the router, one asynq server per lane plus the
// callbacks', and the outcome relay. Nothing runs before Start.
func (f *Fleet) buildWorker() error {
	o := f.opts
	provs := o.Providers
	if provs == nil {
		simBase := ""
		if o.Simulator != nil {
			simBase = "http://" + o.Config.HTTPAddr + "/simulator"
		}
		landing := newConnLanding(o.Config, f.store, f.inboundApplier().Apply, o.Now, o.Log)
		set, err := buildProviders(o.Config, simBase, f.store, landing, o.Log)
		if err != nil {
			return err
		}
		provs, f.conns, f.closers = set.clients, set.components, set.closers
	}
	wc := o.Config.Worker
	f.router = route.New(provs, o.Config.RouteOf, o.Config.Breaker, !o.NoBreakers, o.Log.Named("route"))
	f.router.SetControl(f.traffic.watcher)
	f.servers = worker.NewServers(f.rdb, wc, f.lanes, o.Config.ShutdownGrace, o.Log)
	f.servers = append(f.servers, worker.NewServer(f.rdb, wc, callbackConcurrency, map[string]int{tasks.CallbackQueue: 1}, o.Config.ShutdownGrace, o.Log))
	f.relay = f.buildRelay()
	return nil
}

// Handler is the HTTP handler of every route this process serves, each
// request under its deadline (SMSFLEET_REQUEST_TIMEOUT).
func (f *Fleet) Handler() http.Handler { return f.http.Handler() }

// Store is the fleet's delivery state (tests and benchmarks read it).
func (f *Fleet) Store() *store.Store { return f.store }

// Redis is the fleet's Redis client.
func (f *Fleet) Redis() redis.UniversalClient { return f.rdb }

// Enqueuer is the fleet's task enqueuer.
func (f *Fleet) Enqueuer() *dispatcher.Enqueuer { return f.enq }

// Start starts the worker's lanes (if this process has that role) and
// hands the background components to the supervisor, in this order (the
// supervisor stops them in reverse):
//
//  1. the outcome relay (worker), last to stop, so it relays the outcomes
//     of the tasks the lanes finish while they drain;
//  2. the receipts consumer and the inbound consumer (receipts);
//  3. the providers' own connections (SMPP sessions), if a provider has
//     one (worker): they land receipts and replies before answering;
//  4. the worker lanes: stopping them drains the asynq servers in parallel;
//  5. the sweepers (outbox and delivery waits for the worker, parked
//     receipts for the receipts role), first to stop, so no new work is
//     put in while the rest drains.
func (f *Fleet) Start() error {
	ctx := context.Background()
	f.sup.Add(f.traffic.watcher, f.guards.Live)
	if len(f.servers) > 0 {
		if err := f.startLanes(ctx); err != nil {
			return err
		}
		f.sup.Add(f.relay)
	}
	if f.receipts != nil {
		f.sup.Add(f.receipts.consumer, f.receipts.consumer.LagMeter(), f.inbound.consumer)
	}
	// The connections stop after the lanes drained (in-flight sends keep
	// their session); Close then closes the producers they landed with.
	f.sup.Add(f.conns...)
	if len(f.servers) > 0 {
		interval := f.opts.Config.Worker.OutboxInterval
		f.sup.Add(
			lifecycle.Func("worker-lanes", f.runLanes),
			// asynq stamps leases with the real clock, so the recoverer
			// reads the real clock too, not the fleet's injected one (a
			// test clock moved ahead would make every live lease look
			// expired).
			worker.NewOrphanRecoverer(f.rdb, append(f.lanes.Queues(), tasks.CallbackQueue), f.opts.Config.Worker.RetryBase, f.opts.Config.Worker.RetryMax, time.Now, f.log.Named("orphans")),
			&dispatcher.OutboxSweeper{Enqueuer: f.enq, Interval: interval, Log: f.log.Named("outbox")},
			&receipts.DeliveryWaitSweeper{Store: f.store, Interval: deliveryWaitSweepInterval, Log: f.log.Named("delivery-wait")},
			&store.OutcomeTrimmer{Store: f.store, Max: f.opts.Config.OutcomesMax, Interval: 10 * time.Second, Log: f.log.Named("outcomes")},
			// asynq stamps failures with the real clock, as for the recoverer.
			&worker.ArchiveRetention{Inspector: f.insp, Queues: f.opts.Config.LaneShards().AllQueues(),
				Retention: func(app string) time.Duration { return f.opts.Config.RetentionsOf(app).Numbers },
				Interval:  archiveSweepInterval, Now: time.Now, Log: f.log.Named("archive-retention")},
		)
	}
	if f.receipts != nil {
		f.sup.Add(&receipts.ParkedSweeper{Store: f.store, Interval: parkedSweepInterval, Log: f.log.Named("receipts")})
	}
	f.sup.Start()
	return nil
}

// deliveryWaitSweepInterval is how often a worker moves SMS whose delivery
// wait ended to unknown: the wait is hours, a second late is nothing.
const deliveryWaitSweepInterval = time.Second

// archiveSweepInterval is how often a worker deletes archived send tasks
// whose number retention passed (worker/archive_retention.go): retentions
// are days, ten minutes late is nothing.
const archiveSweepInterval = 10 * time.Minute

// parkedSweepInterval is how often the receipts role gives up parked
// receipts whose window ended; a few seconds late is harmless.
const parkedSweepInterval = 10 * time.Second

// startLanes starts the asynq servers. They start here, not in a
// component, so a worker that cannot start fails Start itself.
func (f *Fleet) startLanes(ctx context.Context) error {
	// The outcomes stream and its group exist before the first send, so
	// events appended from now on wait for a relay even if none is up yet.
	if err := f.store.EnsureOutcomeGroup(ctx); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	// Validated with the configuration: the error cannot happen here.
	prices, err := f.opts.Config.Prices.Table()
	if err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	send := &worker.Sender{
		Prices: prices,
		Store:  f.store, Router: f.router, Log: f.log.Named("worker"), MaxAttempts: f.opts.Config.Worker.MaxAttempts,
		Policy: f.opts.Config.PolicyOf, Now: f.opts.Now, Texts: worker.NewTextCache(4096), WaitUnavailable: f.opts.Config.Breaker.OpenTimeout,
		Rates: f.rates,
		Tasks: f.client, SendTimeout: f.opts.Config.Worker.SendTimeout,
		RetryDelay: worker.RetryDelay(f.opts.Config.Worker), Shards: f.opts.Config.LaneShards(),
		Paused: f.traffic.watcher.AppPaused, Quality: f.traffic.quality, Guards: f.guards,
		Quotas: f.workerQuotas(),
	}
	fan := &dispatcher.Fanout{Store: f.store, Enqueuer: f.enq, Log: f.log.Named("dispatch"), Parallel: 16, Batch: f.opts.Config.Worker.Batch}
	mux := worker.NewMux(send, fan)
	mux.Handle(tasks.TypeCallback, f.callbacks())
	for i, srv := range f.servers {
		if err := srv.Start(mux); err != nil {
			for _, started := range f.servers[:i] {
				started.Shutdown()
			}
			return fmt.Errorf("start worker: %w", err)
		}
	}
	return nil
}

// runLanes is the worker lanes' component: they run on asynq's own
// goroutines; stopping drains them, in parallel so the grace period holds
// for all.
func (f *Fleet) runLanes(ctx context.Context) error {
	<-ctx.Done()
	var drain sync.WaitGroup
	for _, srv := range f.servers {
		drain.Go(srv.Shutdown)
	}
	drain.Wait()
	return nil
}

// Serve listens on ln until ctx is done, then shuts everything down
// within the grace period (see httprole for the order).
func (f *Fleet) Serve(ctx context.Context, ln net.Listener) error {
	return f.http.Serve(ctx, ln)
}

// Shutdown fails readiness, stops intake (no new requests), then stops the
// components (see Start for the order) and closes Redis.
func (f *Fleet) Shutdown(ctx context.Context) {
	if err := f.http.Shutdown(ctx); err != nil {
		f.log.Warn("http shutdown", zap.Error(err))
	}
}

// stop runs once the listener is closed (httprole's OnStop).
func (f *Fleet) stop(ctx context.Context) {
	if err := f.sup.Stop(ctx); err != nil {
		f.log.Warn("background components not stopped within the grace period", zap.Error(err))
	}
	f.close()
}

// Router is the worker's provider router (nil without the worker role).
func (f *Fleet) Router() *route.Router { return f.router }

func (f *Fleet) close() {
	if f.receipts != nil {
		f.receipts.close()
	}
	if f.inbound != nil {
		f.inbound.close()
	}
	if f.relay != nil && f.relay.Writer != nil {
		_ = f.relay.Writer.Close()
	}
	for _, c := range f.closers {
		_ = c.Close()
	}
	if f.client != nil {
		_ = f.client.Close()
	}
	if f.ownRedis && f.rdb != nil {
		_ = f.rdb.Close()
	}
}

// readiness is what /readyz checks: the dependencies of this process's
// roles (Redis always; Kafka and its receipts and inbound topics for
// receipts).
func (f *Fleet) readiness() []httprole.Check {
	return []httprole.Check{
		{Name: "redis", Check: func(ctx context.Context) error { return redisx.Ping(ctx, f.rdb) }},
		{Name: "kafka", Check: func(ctx context.Context) error {
			if f.receipts == nil {
				return nil
			}
			if err := kafkax.Ping(ctx, f.opts.Config.Kafka.Brokers, receipts.Topic); err != nil {
				return err
			}
			// The inbound webhook answers 503 until its topic exists.
			return kafkax.Ping(ctx, f.opts.Config.Kafka.Brokers, f.opts.Config.Inbound.Topic)
		}},
	}
}
