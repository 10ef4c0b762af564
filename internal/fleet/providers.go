package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/receipts"
)

// configuredProviders is the providers this fleet sends through: the
// configuration's, or with none one simulator named "simulator".
func configuredProviders(cfg config.Config) []provider.Config {
	if len(cfg.Providers) == 0 {
		return []provider.Config{{Name: "simulator", Kind: provider.KindSimulator}}
	}
	return cfg.Providers
}

// buildProviders makes a client for every configured provider through its
// kind (provider.New). With none configured the fleet sends through one
// simulator named "simulator": at SMSFLEET_SIMULATOR_URL, or the
// in-process one (simBase). Receipts that arrive on a provider's
// connection (SMPP) are landed like the webhooks' (see connReceipts).
// Nothing runs yet: Start runs the clients that hold a connection (see
// providerRuns), which is among the closers.
func buildProviders(cfg config.Config, simBase string, st *store.Store, log *zap.Logger) ([]provider.Provider, []io.Closer, error) {
	simURL := cfg.SimulatorURL
	if simURL == "" {
		simURL = simBase
	}
	if len(cfg.Providers) == 0 && simURL == "" {
		return nil, nil, errors.New("worker: no provider: configure providers in SMSFLEET_CONFIG or set SMSFLEET_SIMULATOR_URL")
	}
	sink := &connReceipts{cfg: cfg, st: st, log: log}
	deps := provider.Deps{
		HTTP:           provider.NewHTTPClient(),
		SimulatorURL:   simURL,
		StatusCallback: func(name string) string { return statusCallback(cfg, name) },
		OnReceipt:      sink.receive,
		Logger:         log,
	}
	runs := &providerRuns{log: log}
	var out []provider.Provider
	var closers []io.Closer
	for _, p := range configuredProviders(cfg) {
		c, err := provider.New(p, deps)
		if err != nil {
			return nil, nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		out = append(out, c)
		if cl, ok := c.(io.Closer); ok {
			closers = append(closers, cl)
		}
		if r, ok := c.(provider.Runner); ok {
			runs.runners = append(runs.runners, r)
		}
	}
	// Closed in this order: the clients, then their Run goroutines, then
	// the receipts they fed.
	closers = append(closers, runs, sink)
	return out, closers, nil
}

// startProviders runs the clients among closers that hold a connection
// (called by Start).
func startProviders(closers []io.Closer) {
	for _, c := range closers {
		if r, ok := c.(*providerRuns); ok {
			r.start()
		}
	}
}

// providerRuns runs the clients that hold a connection of their own
// (provider.Runner: SMPP) from the fleet's Start until it closes. Their
// context is not Start's: that one ends before the worker drains, and the
// sends still in flight then need their connection; Close, after the
// drain, ends them.
type providerRuns struct {
	runners []provider.Runner
	log     *zap.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (p *providerRuns) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, r := range p.runners {
		p.wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				p.log.Warn("provider connection", zap.Error(err))
			}
		})
	}
}

// Close ends every Run and waits for them.
func (p *providerRuns) Close() error {
	p.mu.Lock()
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// connReceipts is where receipts that arrive on a provider's connection
// (SMPP deliver_sm) go: into Kafka through a forwarder when Kafka is
// configured (like the webhooks'), else straight to the delivery state.
// It is made on the first receipt, so a fleet without such a provider
// never builds a forwarder; Close flushes it, after the clients that feed
// it are closed.
type connReceipts struct {
	cfg config.Config
	st  *store.Store
	log *zap.Logger

	mu     sync.Mutex
	submit func(sms.Receipt)
	fw     *receipts.Forwarder
}

// receive is provider.Deps.OnReceipt: it runs on the connection's reading
// goroutine, so it hands off (the forwarder buffers) rather than block.
func (c *connReceipts) receive(r sms.Receipt) {
	if !r.Final() {
		return // intermediate statuses move nothing
	}
	// At is when the fleet heard of it, as for webhook receipts.
	r.At = time.Now().UTC()
	c.mu.Lock()
	if c.submit == nil {
		c.submit, c.fw = c.build()
	}
	submit := c.submit
	c.mu.Unlock()
	submit(r)
}

func (c *connReceipts) build() (func(sms.Receipt), *receipts.Forwarder) {
	direct := func(ctx context.Context, r sms.Receipt) error {
		// Parked like the consumer parks it, should it overtake the sent write.
		_, err := c.st.ApplyReceipts(ctx, []sms.Receipt{r}, receiptsSettings(c.cfg).ParkTTL)
		return err
	}
	if len(c.cfg.Kafka.Brokers) == 0 {
		return func(r sms.Receipt) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := direct(ctx, r); err != nil {
				c.log.Warn("delivery receipt not applied", zap.String("provider", r.Provider), zap.Error(err))
			}
		}, nil
	}
	fw := receipts.NewForwarder(receipts.NewProducer(c.cfg.Kafka.Brokers, receipts.Topic), 10_000, direct, c.log.Named("smpp-receipts"))
	return fw.Submit, fw
}

// Close flushes the forwarder, if one was made.
func (c *connReceipts) Close() error {
	c.mu.Lock()
	fw := c.fw
	c.mu.Unlock()
	if fw == nil {
		return nil
	}
	return fw.Close()
}
