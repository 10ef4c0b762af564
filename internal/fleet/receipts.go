package fleet

import (
	"errors"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/receipts"
	"github.com/smsfleet/smsfleet/worker"
)

// receiptsRole is the webhook ingress and the Kafka consumer.
type receiptsRole struct {
	producer *receipts.Producer
	dlq      *receipts.Producer
	ingress  *receipts.Ingress
	consumer *receipts.Consumer
}

// receiptSources lists the providers whose webhooks the ingress accepts,
// with what each signs its webhooks with (their kind says; a kind without
// webhooks, SMPP, has no source), and the public URL and trusted proxies
// a Twilio-style signature's URL is taken from.
func receiptSources(cfg config.Config) []provider.Source {
	var out []provider.Source
	for _, p := range configuredProviders(cfg) {
		if src, ok := provider.SourceOf(p); ok {
			src.PublicURL, src.TrustedProxies = cfg.PublicURL, cfg.TrustedProxies
			out = append(out, src)
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
	r := &receiptsRole{
		producer: receipts.NewProducer(cfg.Kafka.Brokers, receipts.Topic),
		dlq:      receipts.NewProducer(cfg.Kafka.Brokers, receipts.TopicDLQ),
	}
	r.ingress = receipts.NewIngress(receiptSources(cfg), r.producer, f.store, f.opts.Now, f.log.Named("receipts"))
	r.ingress.Register(f.mux)
	f.inbound = f.buildInbound()
	r.consumer = receipts.NewConsumer(cfg.Kafka.Brokers, receipts.Topic, rc.Group, r.dlq, f.store, rc.ParkTTL, f.log.Named("receipts"))
	f.receipts = r
	return nil
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

// repliedApps says which applications send from a sender (a reply's
// `to`, store.SenderScope form): those whose configured sender it is
// (their own `sender`, else SMSFLEET_SENDER, else worker.DefaultSender,
// the From the worker gives their SMS). None is an answer: the reply is
// kept as unmatched and changes nothing, so a reply to one tenant's (or an
// unknown) number never touches another tenant's opt-outs.
func repliedApps(cfg config.Config) func(sender string) []string {
	bySender := map[string][]string{}
	for _, a := range cfg.Applications {
		s := cfg.PolicyOf(a.Code).Sender
		if s == "" {
			s = worker.DefaultSender
		}
		if n, ok := store.SenderScope(s); ok {
			bySender[n] = append(bySender[n], a.Code)
		}
	}
	return func(sender string) []string { return bySender[sender] }
}
