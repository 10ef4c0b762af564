// Package inbound takes replies from phones (two-way SMS, issue 17): the
// webhook POST /webhooks/inbound/{provider} of the webhook kinds, and
// OnReply for a provider connection's MO (SMPP). Every reply is
// normalised (Message), landed in Kafka first (topic
// SMSFLEET_INBOUND_TOPIC; without Kafka, applied directly, as receipts
// are), and applied by a consumer (Applier): kept per application, STOP,
// START and HELP words applied and answered, forwarded to the
// application's inbound callback URL. See docs/architecture.md, "Inbound
// messages".
package inbound

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// Land takes one normalised reply for good: it returns nil only once the
// reply is in Kafka (Producer.Produce) or applied (Applier.Apply).
type Land func(ctx context.Context, m Message) error

// Inbound serves POST /webhooks/inbound/{provider}: replies from phones.
// It verifies the provider's signature (its kind's parser), refuses a
// reply it cannot read (400 naming the field, 413 when oversize, 401
// unsigned or badly signed: nothing stored), and answers 2xx only once
// the reply is landed; 503 otherwise, so the provider retries. A replay
// of a reply taken (same provider id) is answered and landed again never;
// were it landed twice (the id not marked after a crash), it carries the
// same reply id, which the consumer applies once.
type Inbound struct {
	sources map[string]provider.Source
	// replays remembers the ids of replies taken, so a replayed START
	// (after a later STOP) changes nothing; now checks their timestamps.
	replays provider.Replays
	now     func() time.Time
	land    Land
	region  string
	log     *zap.Logger
}

// InboundOptions configure NewInbound.
type InboundOptions struct {
	Sources []provider.Source
	// Land takes each reply (the Kafka producer, or the Applier without
	// Kafka).
	Land          Land
	DefaultRegion string
	Log           *zap.Logger
	// Replays is where replies' ids are remembered (the store); without
	// it every reply that has one is refused with 503.
	Replays provider.Replays
	// Now is the clock webhook timestamps are checked against and replies
	// are stamped with (nil: the wall clock).
	Now func() time.Time
}

// NewInbound returns the inbound-reply webhook.
func NewInbound(o InboundOptions) *Inbound {
	in := &Inbound{sources: map[string]provider.Source{}, land: o.Land, region: o.DefaultRegion, log: o.Log, replays: o.Replays, now: o.Now}
	if in.now == nil {
		in.now = time.Now
	}
	for _, s := range o.Sources {
		in.sources[s.Name] = s
	}
	return in
}

// Register mounts the webhook on mux.
func (in *Inbound) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /webhooks/inbound/{provider}", in.serve)
}

func (in *Inbound) serve(w http.ResponseWriter, r *http.Request) {
	src, hooks, body, ok := provider.ReadWebhook(w, r, in.sources)
	if !ok {
		return
	}
	now := in.now()
	rep, replay, err := hooks.ParseReply(src, r, body, now)
	if err != nil {
		status := http.StatusBadRequest
		var we *provider.WebhookError
		if errors.As(err, &we) {
			status = we.Status
		}
		http.Error(w, err.Error(), status)
		return
	}
	id, err := IDOf(src.Name, replay.ID)
	if err != nil {
		in.log.Error("inbound reply id not made; answering 503 so the provider retries", zap.Error(err))
		httprole.Unavailable(w, "inbound replies are unavailable, retry later")
		return
	}
	m, err := Normalize(src.Name, rep, in.region, now, id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// A reply whose id was taken before is a replay: a captured START
	// posted after a later STOP must not opt the phone back in.
	seen, err := provider.Seen(r.Context(), in.replays, src, replay)
	if err != nil {
		in.log.Error("inbound reply id not checked; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		httprole.Unavailable(w, "inbound replies are unavailable, retry later")
		return
	}
	if seen {
		in.log.Info("replayed inbound reply ignored", zap.String("provider", src.Name), zap.String("from", sms.MaskPhone(m.From)))
		hooks.AnswerReply(w)
		return
	}
	if err := in.land(r.Context(), m); err != nil {
		in.log.Error("inbound reply not landed; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		// Within the request's deadline (SMSFLEET_REQUEST_TIMEOUT): a broker
		// or Redis that does not answer gets the provider a fast 503.
		httprole.Unavailable(w, "inbound replies are unavailable, retry later")
		return
	}
	if err := provider.Mark(r.Context(), in.replays, src, replay); err != nil {
		// Landed but not marked: the provider's retry lands it again under
		// the same reply id, which the consumer applies once.
		in.log.Error("inbound reply id not marked; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		httprole.Unavailable(w, "inbound replies are unavailable, retry later")
		return
	}
	hooks.AnswerReply(w) // in the kind's format (Twilio wants TwiML)
}
