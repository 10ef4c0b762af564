package receipts

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// Ingress serves POST /webhooks/dlr/{provider}.
type Ingress struct {
	sources  map[string]provider.Source
	producer *Producer
	// replays remembers the ids of receipts taken (the store), so a
	// replayed one is answered but not landed again.
	replays provider.Replays
	log     *zap.Logger
	now     func() time.Time
}

// NewIngress returns the webhook ingress for sources. now is the clock
// webhook timestamps are checked against (nil: the wall clock); replays
// is where receipts' ids are remembered (nil refuses every receipt that
// has one, 503).
func NewIngress(sources []provider.Source, p *Producer, replays provider.Replays, now func() time.Time, log *zap.Logger) *Ingress {
	if now == nil {
		now = time.Now
	}
	in := &Ingress{sources: map[string]provider.Source{}, producer: p, replays: replays, log: log, now: now}
	for _, s := range sources {
		in.sources[s.Name] = s
	}
	return in
}

// Register mounts the webhook on mux.
func (in *Ingress) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /webhooks/dlr/{provider}", in.serve)
}

func (in *Ingress) serve(w http.ResponseWriter, r *http.Request) {
	src, hooks, body, ok := provider.ReadWebhook(w, r, in.sources)
	if !ok {
		return
	}
	rec, replay, err := hooks.ParseReceipt(src, r, body, in.now())
	if err != nil {
		writeWebhookError(w, err)
		return
	}
	// A receipt whose id was applied before is a replay (or the provider's
	// retry of one we took): answered like a new one, landed nothing.
	seen, err := provider.Seen(r.Context(), in.replays, src, replay)
	if err != nil {
		in.log.Error("receipt id not checked; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		httprole.Unavailable(w, "receipts are unavailable, retry later")
		return
	}
	if seen {
		in.log.Debug("replayed receipt ignored", zap.String("provider", src.Name))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// Intermediate receipts land too: Kafka keeps what the provider said,
	// and the consumer skips them (sms.Receipt.Final).
	// Answer 2xx only once Kafka has it: otherwise the provider retries.
	if err := in.producer.Produce(r.Context(), rec); err != nil {
		in.log.Error("receipt not landed in Kafka; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		// Within the request's deadline (SMSFLEET_REQUEST_TIMEOUT): a broker
		// that does not answer gets the provider a fast 503, not a hang.
		httprole.Unavailable(w, "receipts are unavailable, retry later")
		return
	}
	if err := provider.Mark(r.Context(), in.replays, src, replay); err != nil {
		// Landed but not marked: the provider's retry lands it again, which
		// the consumer's monotonic status machine absorbs.
		in.log.Error("receipt id not marked; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		httprole.Unavailable(w, "receipts are unavailable, retry later")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeWebhookError answers a refused webhook with its status (400 when
// the error does not say).
func writeWebhookError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	var we *provider.WebhookError
	if errors.As(err, &we) {
		status = we.Status
	}
	http.Error(w, err.Error(), status)
}
