package fleet

import (
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/lifecycle"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/store"
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
// that hold their connections (SMPP sessions), and what to close after the
// supervisor stopped.
type providerSet struct {
	clients []provider.Provider
	// components are run by the fleet's supervisor: each connection.
	components []lifecycle.Component
	// closers close the clients, then the landing path they feed.
	closers []io.Closer
}

// buildProviders makes a client for every configured provider through its
// kind (provider.New). With none configured the fleet sends through one
// simulator named "simulator": at SMSFLEET_SIMULATOR_URL, or the
// in-process one (simBase). Receipts and replies that arrive on a
// provider's connection (SMPP) are landed through landing before the
// connection acknowledges them (connlanding.go), and the parts of long
// replies wait in Redis (st). Nothing runs yet: the fleet's Start hands
// the components to its supervisor.
func buildProviders(cfg config.Config, simBase string, st *store.Store, landing *connLanding, log *zap.Logger) (providerSet, error) {
	simURL := cfg.SimulatorURL
	if simURL == "" {
		simURL = simBase
	}
	if len(cfg.Providers) == 0 && simURL == "" {
		return providerSet{}, errors.New("worker: no provider: configure providers in SMSFLEET_CONFIG or set SMSFLEET_SIMULATOR_URL")
	}
	deps := provider.Deps{
		HTTP:           provider.NewHTTPClient(),
		SimulatorURL:   simURL,
		StatusCallback: func(name string) string { return statusCallback(cfg, name) },
		OnReceipt:      landing.receipt,
		OnReply:        landing.reply,
		MOParts:        moParts{st},
		Logger:         log,
	}
	var set providerSet
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
			set.components = append(set.components, lifecycle.Func("provider-"+p.Name, r.Run))
		}
	}
	// Closed after the clients: they feed it.
	set.closers = append(set.closers, landing)
	return set, nil
}
