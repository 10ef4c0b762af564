package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/lifecycle"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/receipts"
)

// configuredProviders is the providers this fleet sends through: the
// configuration's, or with none one simulator named "simulator".
func configuredProviders(cfg config.Config) []provider.Config {
	if len(cfg.Providers) == 0 {
		// Its webhooks are signed with SMSFLEET_SIMULATOR_SECRET; without
		// one they are all refused.
		return []provider.Config{{Name: "simulator", Kind: provider.KindSimulator, WebhookSecret: cfg.SimulatorSecret}}
	}
	return cfg.Providers
}

// providerSet is what buildProviders makes: the clients, the components
// that hold their connections (SMPP sessions) and land the receipts that
// arrive on them, and what to close after the supervisor stopped.
type providerSet struct {
	clients []provider.Provider
	// components are run by the fleet's supervisor in this order (and so
	// stopped in reverse): the receipts forwarder, then each connection,
	// so a connection stops before the forwarder it feeds.
	components []lifecycle.Component
	// closers close the clients, then flush the forwarder.
	closers []io.Closer
}

// buildProviders makes a client for every configured provider through its
// kind (provider.New). With none configured the fleet sends through one
// simulator named "simulator": at SMSFLEET_SIMULATOR_URL, or the
// in-process one (simBase). Receipts that arrive on a provider's
// connection (SMPP) are landed like the webhooks' (see connReceipts).
// Nothing runs yet: the fleet's Start hands the components to its
// supervisor.
//
// Replies that arrive on a connection (SMPP MO) go to replies
// (Deps.OnReply), the inbound pipeline's entry; it runs before the
// connections and is flushed after them, like the receipts forwarder.
func buildProviders(cfg config.Config, simBase string, st *store.Store, replies *inbound.Forwarder, now func() time.Time, log *zap.Logger) (providerSet, error) {
	simURL := cfg.SimulatorURL
	if simURL == "" {
		simURL = simBase
	}
	if len(cfg.Providers) == 0 && simURL == "" {
		return providerSet{}, errors.New("worker: no provider: configure providers in SMSFLEET_CONFIG or set SMSFLEET_SIMULATOR_URL")
	}
	sink := &connReceipts{cfg: cfg, st: st, now: now, log: log}
	deps := provider.Deps{
		HTTP:           provider.NewHTTPClient(),
		SimulatorURL:   simURL,
		StatusCallback: func(name string) string { return statusCallback(cfg, name) },
		OnReceipt:      sink.receive,
		OnReply:        replies.OnReply,
		Logger:         log,
	}
	var set providerSet
	var conns []lifecycle.Component
	for _, p := range configuredProviders(cfg) {
		c, err := provider.New(p, deps)
		if err != nil {
			return providerSet{}, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		set.clients = append(set.clients, c)
		if cl, ok := c.(io.Closer); ok {
			set.closers = append(set.closers, cl)
		}
		if r, ok := c.(provider.Runner); ok {
			conns = append(conns, lifecycle.Func("provider-"+p.Name, r.Run))
		}
	}
	if len(conns) > 0 {
		// Only a provider with a connection of its own delivers receipts
		// on it: only then is the landing path built.
		if fw := sink.build(); fw != nil {
			set.components = append(set.components, fw)
		}
		set.components = append(set.components, replies)
		set.components = append(set.components, conns...)
	}
	// Closed after the clients: they feed them.
	set.closers = append(set.closers, sink, replies)
	return set, nil
}

// connReceipts is where receipts that arrive on a provider's connection
// (SMPP deliver_sm) go: into Kafka through a forwarder when Kafka is
// configured (like the webhooks'), else straight to the delivery state.
// buildProviders builds it only when a provider has such a connection;
// Close flushes the forwarder, after the clients that feed it are closed.
type connReceipts struct {
	cfg config.Config
	st  *store.Store
	now func() time.Time
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
	r.At = c.now().UTC()
	c.mu.Lock()
	submit := c.submit
	c.mu.Unlock()
	if submit == nil {
		c.log.Warn("delivery receipt from a provider without a receipts path", zap.String("provider", r.Provider))
		return
	}
	submit(r)
}

// build makes the landing path: into Kafka through a forwarder (returned,
// for the supervisor to run) when Kafka is configured, else straight to
// the delivery state.
func (c *connReceipts) build() *receipts.Forwarder {
	direct := func(ctx context.Context, r sms.Receipt) error {
		// Parked like the consumer parks it, should it overtake the sent write.
		_, err := c.st.ApplyReceipts(ctx, []sms.Receipt{r}, c.cfg.Receipts.ParkTTL)
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cfg.Kafka.Brokers) == 0 {
		c.submit = func(r sms.Receipt) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := direct(ctx, r); err != nil {
				c.log.Warn("delivery receipt not applied", zap.String("provider", r.Provider), zap.Error(err))
			}
		}
		return nil
	}
	c.fw = receipts.NewForwarder(receipts.NewProducer(c.cfg.Kafka.Brokers, receipts.Topic), 10_000, direct, c.log.Named("smpp-receipts"))
	c.submit = c.fw.Submit
	return c.fw
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
