package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/receipts"
)

// connLanding lands what arrives on a provider's connection (SMPP
// receipts and replies from phones) while the connection waits: the SMPP
// client answers the SMSC's deliver_sm only once reply or receipt returned
// nil, and with a temporary error otherwise, so the SMSC delivers again
// what did not land (internal/provider/smpp_inbox.go). Nothing is
// buffered in this process: with Kafka configured each is produced and
// acknowledged by Kafka (smsfleet.inbound, smsfleet.receipts) before
// returning, as the webhooks' are; without, it is applied to Redis
// directly.
type connLanding struct {
	cfg      config.Config
	st       *store.Store
	apply    func(context.Context, inbound.Message) error
	replies  *inbound.Producer  // nil without Kafka
	receipts *receipts.Producer // nil without Kafka
	now      func() time.Time
	log      *zap.Logger
}

// newConnLanding returns the landing path; apply is the inbound pipeline's
// last step, for replies when no Kafka is configured.
func newConnLanding(cfg config.Config, st *store.Store, apply func(context.Context, inbound.Message) error, now func() time.Time, log *zap.Logger) *connLanding {
	if now == nil {
		now = time.Now
	}
	l := &connLanding{cfg: cfg, st: st, apply: apply, now: now, log: log.Named("connection-landing")}
	if len(cfg.Kafka.Brokers) > 0 {
		l.replies = inbound.NewProducer(cfg.Kafka.Brokers, cfg.Inbound.Topic)
		l.receipts = receipts.NewProducer(cfg.Kafka.Brokers, receipts.Topic)
	}
	return l
}

// receipt is provider.Deps.OnReceipt.
func (l *connLanding) receipt(ctx context.Context, r sms.Receipt) error {
	if !r.Final() {
		return nil // intermediate statuses move nothing
	}
	// At is when the fleet heard of it, as for webhook receipts.
	r.At = l.now().UTC()
	if l.receipts != nil {
		return l.receipts.Produce(ctx, r)
	}
	// Parked like the consumer parks it, should it overtake the sent write.
	if _, err := l.st.ApplyReceipts(ctx, []sms.Receipt{r}, l.cfg.Receipts.ParkTTL); err != nil {
		return fmt.Errorf("applying receipt of %s: %w", r.Provider, err)
	}
	return nil
}

// reply is provider.Deps.OnReply. A reply that can never be read (no
// valid sender number, oversize, not UTF-8) is refused for good
// (provider.ErrUnlandable): delivering it again would not help.
func (l *connLanding) reply(ctx context.Context, prov string, r provider.Reply) error {
	id, err := inbound.IDOf(prov, "") // an MO carries no id of the provider's
	if err != nil {
		return err
	}
	m, err := inbound.Normalize(prov, r, l.cfg.DefaultRegion, l.now(), id)
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrUnlandable, err)
	}
	if l.replies != nil {
		return l.replies.Produce(ctx, m)
	}
	if err := l.apply(ctx, m); err != nil {
		return fmt.Errorf("applying reply from %s: %w", sms.MaskPhone(m.From), err)
	}
	metrics.InboundLanded.WithLabelValues("direct").Inc()
	return nil
}

// Close closes the producers, after the connections that use them.
func (l *connLanding) Close() error {
	var errs []error
	if l.replies != nil {
		errs = append(errs, l.replies.Close())
	}
	if l.receipts != nil {
		errs = append(errs, l.receipts.Close())
	}
	return errors.Join(errs...)
}

// moParts adapts the store's long-MO parts (Redis) to the SMPP client's
// provider.MOPartStore.
type moParts struct{ st *store.Store }

func storeMOKey(k provider.MOPartKey) store.MOKey {
	return store.MOKey{Provider: k.Provider, From: k.From, To: k.To, Ref: k.Ref, Ref16: k.Ref16}
}

func (m moParts) AddMOPart(ctx context.Context, k provider.MOPartKey, seq, total int, coding string, data []byte, ttl, lease time.Duration) (string, [][]byte, error) {
	res, err := m.st.AddMOPart(ctx, store.MOPart{MOKey: storeMOKey(k), Seq: seq, Total: total, Coding: coding, Data: data, TTL: ttl, Lease: lease})
	return string(res.State), res.Parts, err
}

func (m moParts) FinishMO(ctx context.Context, k provider.MOPartKey, ttl time.Duration) error {
	return m.st.FinishMO(ctx, storeMOKey(k), ttl)
}

func (m moParts) ReleaseMO(ctx context.Context, k provider.MOPartKey) error {
	return m.st.ReleaseMO(ctx, storeMOKey(k))
}
