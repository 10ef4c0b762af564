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
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/receipts"
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
	var onReceipt func(provider.Receipt)
	var flush io.Closer
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
			if onReceipt == nil {
				onReceipt, flush = smppReceipts(cfg, st, log)
			}
			var tc *tls.Config
			if p.TLS {
				tc = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			c, err := provider.NewSMPP(provider.SMPPConfig{
				Name: p.Name, Addr: p.Addr, SystemID: p.SystemID, Password: config.Secret(p.PasswordEnv), SystemType: p.SystemType,
				TLS: tc, Window: p.Window, EnquireLink: p.EnquireLink, SubmitTimeout: timeout,
				OnReceipt: onReceipt, Logger: log.Named("smpp"),
			})
			if err != nil {
				return nil, nil, fmt.Errorf("provider %s: %w", p.Name, err)
			}
			out, closers = append(out, c), append(closers, c)
		}
	}
	if flush != nil {
		closers = append(closers, flush) // after the SMPP clients: they feed it
	}
	return out, closers, nil
}

// smppReceipts returns where an SMPP connection's receipts go: into
// Kafka through a forwarder when Kafka is configured (like the webhooks'),
// else straight to the delivery state. The closer (nil without Kafka)
// flushes the forwarder; close it after the SMPP clients.
func smppReceipts(cfg config.Config, st *store.Store, log *zap.Logger) (func(provider.Receipt), io.Closer) {
	direct := func(ctx context.Context, r receipts.Record) error {
		to := sms.Delivered
		if r.Status == "undelivered" {
			to = sms.Undelivered
		}
		// Parked like the consumer parks it, should it overtake the sent write.
		_, err := st.ApplyReceipts(ctx, []store.Receipt{{Provider: r.Provider, Ref: r.Ref, Status: to, Code: r.ErrorCode}}, receiptsSettings(cfg).ParkTTL)
		return err
	}
	record := func(r provider.Receipt) (receipts.Record, bool) {
		rec := receipts.Record{Provider: r.Provider, Ref: r.Ref, Status: r.Status, ErrorCode: r.ErrorCode, At: time.Now().UTC()}
		return rec, rec.Final() // intermediate statuses move nothing
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return func(r provider.Receipt) {
			rec, ok := record(r)
			if !ok {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := direct(ctx, rec); err != nil {
				log.Warn("delivery receipt not applied", zap.String("provider", r.Provider), zap.Error(err))
			}
		}, nil
	}
	fw := receipts.NewForwarder(receipts.NewProducer(cfg.Kafka.Brokers, receipts.Topic), 10_000, direct, log.Named("smpp-receipts"))
	return func(r provider.Receipt) {
		if rec, ok := record(r); ok {
			fw.Submit(rec)
		}
	}, fw
}

func orDefault(s, d string) string {
	if s != "" {
		return s
	}
	return d
}
