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
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/intake"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/kafkax"
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
	// Now is the intake's clock (tests schedule a few seconds ahead with it).
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
	servers  []*asynq.Server
	router   *route.Router
	rates    *worker.Rates
	receipts *receiptsRole
	relay    *outcomes.Relay
	closers  []io.Closer
	enq      *dispatcher.Enqueuer
	mux      *http.ServeMux
	http     *http.Server

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopping atomic.Bool
	shutdown sync.Once
}

// New builds a fleet. It checks Redis and loads the store's scripts.
func New(ctx context.Context, o Options) (*Fleet, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, app := range o.Config.Applications {
		if sender := o.Config.PolicyOf(app.Code).Sender; sender != "" {
			if _, err := sms.NormalizeSender(sender); err != nil {
				return nil, fmt.Errorf("config: application %s: sender: %w", app.Code, err)
			}
		}
	}
	if _, err := buildRates(o.Config, nil); err != nil {
		return nil, err
	}
	f := &Fleet{opts: o, log: o.Log, rdb: o.Redis, mux: http.NewServeMux()}
	if f.rdb == nil {
		f.rdb = redisx.New(o.Config.Redis)
		f.ownRedis = true
	}
	if err := redisx.Ping(ctx, f.rdb); err != nil {
		f.close()
		return nil, fmt.Errorf("redis at %s: %w", o.Config.Redis.Addr, err)
	}
	f.store = store.New(f.rdb, o.Config.Retention)
	if err := f.store.LoadScripts(ctx); err != nil {
		f.close()
		return nil, err
	}
	f.client = asynq.NewClientFromRedisClient(f.rdb)
	f.insp = asynq.NewInspectorFromRedisClient(f.rdb)
	wc := o.Config.Worker
	f.enq = dispatcher.NewEnqueuer(f.store, f.client, wc.MaxAttempts, wc.SendTimeout, o.Now)

	f.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	f.mux.HandleFunc("GET /readyz", f.ready)
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
	perFleet := prometheus.NewRegistry()
	perFleet.MustRegister(newRateCollector(rates, o.Log.Named("metrics")))
	f.mux.Handle("GET /metrics", metrics.Handler(perFleet))
	if o.Roles.API {
		intake.NewAPI(intake.Options{
			Rates: &intake.RateStatus{Limits: rates.Limits, Limiter: rates.Limiter},
			Store: f.store, Enqueuer: f.enq, Inspector: f.insp, Apps: o.Config.Applications,
			MaxBodyBytes: o.Config.MaxBodyBytes, MaxRecipients: o.Config.MaxRecipients, DefaultRegion: o.Config.DefaultRegion,
			ChunkSize: o.Config.DispatchChunk,
			Policy:    o.Config.PolicyOf, DeliveryWait: o.Config.DeliveryWait, CallbackSecret: o.Config.CallbackSecretOf, Logger: o.Log.Named("api"), Now: o.Now,
		}).Register(f.mux)
	}
	if o.Roles.Receipts {
		if err := f.buildReceipts(); err != nil {
			f.close()
			return nil, err
		}
	}
	if o.Roles.Worker {
		provs := o.Providers
		if provs == nil {
			simBase := ""
			if o.Simulator != nil {
				simBase = "http://" + o.Config.HTTPAddr + "/simulator"
			}
			var err error
			provs, f.closers, err = buildProviders(o.Config, simBase, f.store, o.Log)
			if err != nil {
				f.close()
				return nil, err
			}
		}
		f.router = route.New(provs, o.Config.RouteOf, breakerSettings(o.Config), !o.NoBreakers, o.Log.Named("route"))
		f.servers = worker.NewServers(f.rdb, wc, o.Config.ShutdownGrace, o.Log)
		f.servers = append(f.servers, worker.NewServer(f.rdb, wc, callbackConcurrency, map[string]int{tasks.CallbackQueue: 1}, o.Config.ShutdownGrace, o.Log))
		f.relay = f.buildRelay()
	}
	return f, nil
}

// Handler is the HTTP handler of every route this process serves.
func (f *Fleet) Handler() http.Handler { return f.mux }

// Store is the fleet's delivery state (tests and benchmarks read it).
func (f *Fleet) Store() *store.Store { return f.store }

// Redis is the fleet's Redis client.
func (f *Fleet) Redis() redis.UniversalClient { return f.rdb }

// Enqueuer is the fleet's task enqueuer.
func (f *Fleet) Enqueuer() *dispatcher.Enqueuer { return f.enq }

// Start runs the worker (if this process has that role) and the outbox
// sweeper in the background.
func (f *Fleet) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	startProviders(f.closers)
	if f.receipts != nil {
		f.wg.Add(2)
		go func() {
			defer f.wg.Done()
			f.runConsumer(ctx)
		}()
		go func() {
			defer f.wg.Done()
			every(ctx, parkedSweepInterval, f.sweepParked)
		}()
	}
	if len(f.servers) == 0 {
		return nil
	}
	// The outcomes stream and its group exist before the first send, so
	// events appended from now on wait for a relay even if none is up yet.
	if err := f.store.EnsureOutcomeGroup(ctx); err != nil {
		cancel()
		return err
	}
	send := &worker.Sender{
		Store: f.store, Router: f.router, Log: f.log.Named("worker"), MaxAttempts: f.opts.Config.Worker.MaxAttempts,
		Policy: f.opts.Config.PolicyOf, Now: f.opts.Now, Texts: worker.NewTextCache(4096), WaitUnavailable: breakerSettings(f.opts.Config).OpenTimeout,
		Rates: f.rates,
	}
	fan := &dispatcher.Fanout{Store: f.store, Enqueuer: f.enq, Log: f.log.Named("dispatch"), Parallel: 16}
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
	f.wg.Add(3)
	go func() {
		defer f.wg.Done()
		f.runRelay(ctx)
	}()
	outboxLog, interval := f.log.Named("outbox"), f.opts.Config.Worker.OutboxInterval
	go func() {
		defer f.wg.Done()
		every(ctx, interval, func(ctx context.Context) {
			if _, err := f.enq.SweepOutbox(ctx, interval, outboxLog); err != nil && ctx.Err() == nil {
				outboxLog.Error("outbox sweep", zap.Error(err))
			}
		})
	}()
	go func() {
		defer f.wg.Done()
		every(ctx, time.Second, f.sweepDeliveryWaits)
	}()
	return nil
}

// Serve listens on the configured address until ctx is done, then shuts
// everything down within the grace period.
func (f *Fleet) Serve(ctx context.Context, ln net.Listener) error {
	f.http = &http.Server{Handler: f.mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- f.http.Serve(ln) }()
	select {
	case err := <-errc:
		f.Shutdown(context.Background())
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), f.opts.Config.ShutdownGrace)
	defer cancel()
	f.Shutdown(sctx)
	return nil
}

// Shutdown stops intake first (no new requests), then lets the worker
// finish its in-flight tasks, then closes Redis.
func (f *Fleet) Shutdown(ctx context.Context) {
	f.shutdown.Do(func() { f.stop(ctx) })
}

func (f *Fleet) stop(ctx context.Context) {
	// Readiness fails first, so a load balancer still probing stops
	// sending before the listener closes.
	f.stopping.Store(true)
	if f.http != nil {
		if err := f.http.Shutdown(ctx); err != nil {
			f.log.Warn("http shutdown", zap.Error(err))
		}
	}
	if f.cancel != nil {
		f.cancel()
	}
	// The lanes drain in parallel, so the grace period holds for all.
	var drain sync.WaitGroup
	for _, srv := range f.servers {
		drain.Go(srv.Shutdown)
	}
	drain.Wait()
	f.wg.Wait()
	f.close()
}

// Router is the worker's provider router (nil without the worker role).
func (f *Fleet) Router() *route.Router { return f.router }

func (f *Fleet) close() {
	if f.receipts != nil {
		f.receipts.close()
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

// ready answers /readyz: 503 while shutting down, or when a dependency of
// this process's roles is unreachable (Redis always; Kafka for receipts).
func (f *Fleet) ready(w http.ResponseWriter, r *http.Request) {
	if f.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := redisx.Ping(ctx, f.rdb); err != nil {
		http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if f.receipts != nil {
		if err := kafkax.Ping(ctx, f.opts.Config.Kafka.Brokers, receipts.Topic); err != nil {
			http.Error(w, "kafka: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// every runs fn every interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// sweepDeliveryWaits moves SMS whose delivery wait ended without a receipt
// to unknown. Every worker sweeps; the script is atomic, so they never move
// an SMS twice.
func (f *Fleet) sweepDeliveryWaits(ctx context.Context) {
	for {
		moved, ended, err := f.store.ExpireDeliveryWaits(ctx, 1000)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("delivery-wait sweep", zap.Error(err))
			}
			return
		}
		if moved > 0 {
			f.log.Info("no receipt within the delivery wait: unknown", zap.Int("sms", moved))
		}
		if ended < 1000 {
			return
		}
	}
}

// breakerSettings is the configured breaker, or the defaults for a
// configuration built in code.
func breakerSettings(cfg config.Config) config.Breaker {
	if cfg.Breaker == (config.Breaker{}) {
		return config.NewBreaker()
	}
	return cfg.Breaker
}
