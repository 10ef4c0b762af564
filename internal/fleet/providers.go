package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/worker/provider"
)

// buildProviders makes a client for every configured provider. With none
// configured the fleet sends through one simulator named "simulator": at
// SMSFLEET_SIMULATOR_URL, or the in-process one (simBase). SMPP receipts
// are applied to the delivery state as they arrive.
func buildProviders(cfg config.Config, simBase string, st *store.Store, log *zap.Logger) ([]provider.Provider, []io.Closer, error) {
	simURL := cfg.SimulatorURL
	if simURL == "" {
		simURL = simBase
	}
	if len(cfg.Providers) == 0 {
		if simURL == "" {
			return nil, nil, errors.New("worker: no provider: configure providers in SMSFLEET_CONFIG or set SMSFLEET_SIMULATOR_URL")
		}
		sim := provider.NewSimulator("simulator", simURL, nil)
		sim.SetStatusCallback(statusCallback(cfg, "simulator"))
		return []provider.Provider{sim}, nil, nil
	}
	var out []provider.Provider
	var closers []io.Closer
	hc := provider.NewHTTPClient()
	for _, p := range cfg.Providers {
		timeout := p.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		switch p.Kind {
		case config.KindSimulator:
			url := p.URL
			if url == "" {
				url = simURL
			}
			if url == "" {
				return nil, nil, fmt.Errorf("provider %s: a simulator needs a url (no simulator runs in this process)", p.Name)
			}
			sim := provider.NewSimulator(p.Name, url, hc)
			sim.SetStatusCallback(statusCallback(cfg, p.Name))
			out = append(out, sim)
		case config.KindTwilio:
			sid := p.AccountSID
			if sid == "" {
				sid = config.Secret(p.AccountSIDEnv)
			}
			out = append(out, provider.NewTwilio(provider.TwilioConfig{
				Name: p.Name, BaseURL: p.URL, AccountSID: sid, AuthToken: config.Secret(p.AuthTokenEnv),
				MessagingServiceSID: p.MessagingServiceSID, StatusCallback: orDefault(p.StatusCallback, statusCallback(cfg, p.Name)), Timeout: timeout,
			}, hc))
		case config.KindJSON:
			g, err := provider.NewGeneric(provider.GenericConfig{
				Name: p.Name, URL: p.URL, Method: p.Method, AuthHeader: p.AuthHeader, AuthValue: config.Secret(p.AuthValueEnv),
				RequestTemplate: p.RequestTemplate, RefField: p.RefField, Timeout: timeout,
			}, hc)
			if err != nil {
				return nil, nil, fmt.Errorf("provider %s: %w", p.Name, err)
			}
			out = append(out, g)
		case config.KindSMPP:
			var tc *tls.Config
			if p.TLS {
				tc = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			c, err := provider.NewSMPP(provider.SMPPConfig{
				Name: p.Name, Addr: p.Addr, SystemID: p.SystemID, Password: config.Secret(p.PasswordEnv), SystemType: p.SystemType,
				TLS: tc, Window: p.Window, EnquireLink: p.EnquireLink, SubmitTimeout: timeout,
				OnReceipt: applyReceipt(st, log), Logger: log.Named("smpp"),
			})
			if err != nil {
				return nil, nil, fmt.Errorf("provider %s: %w", p.Name, err)
			}
			out, closers = append(out, c), append(closers, c)
		}
	}
	return out, closers, nil
}

// applyReceipt writes a delivery receipt straight to the delivery state.
// (The receipts issue routes them through Kafka instead.)
func applyReceipt(st *store.Store, log *zap.Logger) func(provider.Receipt) {
	return func(r provider.Receipt) {
		var to sms.Status
		switch r.Status {
		case "delivered":
			to = sms.Delivered
		case "undelivered":
			to = sms.Undelivered
		default:
			return // intermediate statuses move nothing
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := st.ApplyReceipt(ctx, r.Provider, r.Ref, to, r.ErrorCode); err != nil {
			log.Warn("delivery receipt not applied", zap.String("provider", r.Provider), zap.String("ref", r.Ref), zap.Error(err))
		}
	}
}

func orDefault(s, d string) string {
	if s != "" {
		return s
	}
	return d
}
