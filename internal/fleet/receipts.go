package fleet

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/receipts"
	"github.com/smsfleet/smsfleet/worker/provider"
)

// receiptsRole is the webhook ingress and the Kafka consumer.
type receiptsRole struct {
	producer *receipts.Producer
	dlq      *receipts.Producer
	ingress  *receipts.Ingress
	consumer *receipts.Consumer
}

// receiptSources lists the providers whose webhooks the ingress accepts,
// with what each signs its receipts with.
func receiptSources(cfg config.Config) []receipts.Source {
	if len(cfg.Providers) == 0 {
		return []receipts.Source{{Name: "simulator", Kind: "twilio", Secret: provider.SimulatorAuthToken}}
	}
	var out []receipts.Source
	for _, p := range cfg.Providers {
		switch p.Kind {
		case config.KindSimulator:
			out = append(out, receipts.Source{Name: p.Name, Kind: "twilio", Secret: provider.SimulatorAuthToken})
		case config.KindTwilio:
			out = append(out, receipts.Source{Name: p.Name, Kind: "twilio", Secret: config.Secret(p.AuthTokenEnv)})
		case config.KindJSON:
			out = append(out, receipts.Source{Name: p.Name, Kind: "json", Secret: config.Secret(p.DLRSecretEnv)})
		}
	}
	return out
}

func (f *Fleet) buildReceipts() error {
	cfg := f.opts.Config
	if len(cfg.Kafka.Brokers) == 0 {
		return errors.New("receipts: no Kafka: set SMSFLEET_KAFKA_BROKERS")
	}
	rc := cfg.Receipts
	if rc.Group == "" {
		rc.Group = "smsfleet-receipts"
	}
	if rc.ParkTTL <= 0 {
		rc.ParkTTL = time.Hour
	}
	r := &receiptsRole{
		producer: receipts.NewProducer(cfg.Kafka.Brokers, receipts.Topic),
		dlq:      receipts.NewProducer(cfg.Kafka.Brokers, receipts.TopicDLQ),
	}
	r.ingress = receipts.NewIngress(receiptSources(cfg), r.producer, f.log.Named("receipts"))
	r.ingress.Register(f.mux)
	r.consumer = receipts.NewConsumer(cfg.Kafka.Brokers, receipts.Topic, rc.Group, r.dlq, f.store, rc.ParkTTL, f.log.Named("receipts"))
	f.receipts = r
	return nil
}

// runConsumer consumes until ctx is done, starting over after an error
// (Kafka unreachable, a rebalance gone wrong) rather than giving up.
func (f *Fleet) runConsumer(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.receipts.consumer.Run(ctx); err != nil {
			f.log.Error("receipts consumer stopped; starting again", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}
}

func (r *receiptsRole) close() {
	_ = r.consumer.Close()
	_ = r.producer.Close()
	_ = r.dlq.Close()
}

// statusCallback is where provider name posts its receipts, when the
// fleet's public URL is known.
func statusCallback(cfg config.Config, name string) string {
	if cfg.PublicURL == "" {
		return ""
	}
	return cfg.PublicURL + "/webhooks/dlr/" + name
}
