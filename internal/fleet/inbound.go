package fleet

import (
	"context"
	"time"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/worker"
)

// inboundRole is the receipts role's half for replies from phones: the
// webhook lands them in Kafka (SMSFLEET_INBOUND_TOPIC) and the consumer
// applies them (inbound.Applier).
type inboundRole struct {
	producer *inbound.Producer
	consumer *inbound.Consumer
}

// inboundApplier is the last step of the inbound pipeline, shared by the
// consumer (receipts role) and by provider connections' replies applied
// without Kafka (worker role): replies kept per application, keywords
// applied and answered, forwarded to the inbound callback.
func (f *Fleet) inboundApplier() *inbound.Applier {
	cfg := f.opts.Config
	log := f.log.Named("inbound")
	return &inbound.Applier{
		Store: f.store, Apps: repliedApps(cfg), Settings: cfg.InboundOf, Log: log,
		Keywords: inbound.NewKeywords(cfg.Inbound.StopWords, cfg.Inbound.StartWords, cfg.InboundOf),
		Answers: &inbound.Answers{
			Store: f.store, Enqueuer: f.enq, Policy: cfg.PolicyOf, DeliveryWait: cfg.DeliveryWait, ChunkSize: cfg.DispatchChunk,
			Now: f.opts.Now, Log: log,
		},
		Callbacks: &inbound.Callbacks{Queue: f.client, MaxAttempts: cfg.Callback.MaxAttempts, Timeout: cfg.Callback.Timeout},
		// A reply holds a number and a text: it is kept for the shorter of
		// the application's two retentions (docs/privacy.md).
		Retention: func(app string) time.Duration {
			r := cfg.PrivacyOf(app)
			return min(r.Texts, r.Numbers)
		},
	}
}

// appSender is the sender an application's SMS go from when their
// message names none: its policy's, else the worker's default (the one
// repliedApps matches replies by).
func appSender(cfg config.Config) func(app string) string {
	return func(app string) string {
		if s := cfg.PolicyOf(app).Sender; s != "" {
			return s
		}
		return worker.DefaultSender
	}
}

// buildInbound mounts POST /webhooks/inbound/{provider} (landing in Kafka,
// which the receipts role requires) and makes the consumer that applies
// what lands.
func (f *Fleet) buildInbound() *inboundRole {
	cfg := f.opts.Config
	r := &inboundRole{producer: inbound.NewProducer(cfg.Kafka.Brokers, cfg.Inbound.Topic)}
	inbound.NewInbound(inbound.InboundOptions{
		Sources: receiptSources(cfg), Land: func(ctx context.Context, m inbound.Message) error { return r.producer.Produce(ctx, m) },
		DefaultRegion: cfg.DefaultRegion, Log: f.log.Named("inbound"), Replays: f.store, Now: f.opts.Now,
	}).Register(f.mux)
	r.consumer = inbound.NewConsumer(cfg.Kafka.Brokers, cfg.Inbound.Topic, cfg.Inbound.Group, f.inboundApplier().Apply, f.log.Named("inbound"))
	return r
}

func (r *inboundRole) close() {
	_ = r.consumer.Close()
	_ = r.producer.Close()
}
