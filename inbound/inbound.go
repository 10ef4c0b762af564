package inbound

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"
	"golang.org/x/text/unicode/norm"

	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// OptOuts is the opt-out store inbound replies feed (the store's).
type OptOuts interface {
	// ApplyReply applies a STOP or START to the applications that send
	// from the sender replied to, atomically, and returns those it changed.
	ApplyReply(ctx context.Context, r store.Reply) ([]string, error)
	// AddUnmatched keeps a keyword reply that no application's sender got.
	AddUnmatched(ctx context.Context, r store.UnmatchedReply) error
}

// Inbound serves POST /webhooks/inbound/{provider}: replies from phones.
// A reply that is a stop word opts the phone out of the SMS of the
// applications that send from the sender it replied to (and from that
// sender only: store/optouts.go), a start word undoes that phone's STOP;
// anything else is acknowledged and ignored (smsfleet does not route
// conversations). A keyword reply to a sender no application sends from
// changes nothing: it is kept as unmatched for the operator. Replies are
// applied to Redis directly, not through Kafka: there is no ordering to
// keep, and a 503 while Redis is down makes the provider retry.
type Inbound struct {
	sources map[string]provider.Source
	// replays remembers the ids of replies taken, so a replayed START
	// (after a later STOP) changes nothing; now checks their timestamps.
	replays     provider.Replays
	now         func() time.Time
	optOuts     OptOuts
	stop, start map[string]bool
	// apps says which applications send from a sender (SenderScope form).
	apps   func(sender string) []string
	region string
	log    *zap.Logger
}

// InboundOptions configure NewInbound.
type InboundOptions struct {
	Sources       []provider.Source
	OptOuts       OptOuts
	StopWords     []string
	StartWords    []string
	Apps          func(sender string) []string // the applications that send from a sender (store.SenderScope form); none: unmatched
	DefaultRegion string
	Log           *zap.Logger
	// Replays is where replies' ids are remembered (the store); without
	// it every reply that has one is refused with 503.
	Replays provider.Replays
	// Now is the clock webhook timestamps are checked against (nil: the
	// wall clock).
	Now func() time.Time
}

// NewInbound returns the inbound-reply webhook.
func NewInbound(o InboundOptions) *Inbound {
	in := &Inbound{sources: map[string]provider.Source{}, optOuts: o.OptOuts, stop: words(o.StopWords), start: words(o.StartWords),
		apps: o.Apps, region: o.DefaultRegion, log: o.Log, replays: o.Replays, now: o.Now}
	if in.now == nil {
		in.now = time.Now
	}
	for _, s := range o.Sources {
		in.sources[s.Name] = s
	}
	return in
}

func words(ws []string) map[string]bool {
	out := make(map[string]bool, len(ws))
	for _, w := range ws {
		out[strings.ToUpper(w)] = true
	}
	return out
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
	rep, replay, err := hooks.ParseReply(src, r, body, in.now())
	if err != nil {
		status := http.StatusBadRequest
		var we *provider.WebhookError
		if errors.As(err, &we) {
			status = we.Status
		}
		http.Error(w, err.Error(), status)
		return
	}
	from, err := sms.NormalizePhone(rep.From, in.region)
	if err != nil {
		http.Error(w, "from: "+err.Error(), http.StatusBadRequest)
		return
	}
	// A reply whose id was applied before is a replay: a captured START
	// posted after a later STOP must not opt the phone back in.
	seen, err := provider.Seen(r.Context(), in.replays, src, replay)
	if err != nil {
		in.log.Error("inbound reply id not checked; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		httprole.Unavailable(w, "inbound replies are unavailable, retry later")
		return
	}
	if seen {
		in.log.Info("replayed inbound reply ignored", zap.String("provider", src.Name), zap.String("from", sms.MaskPhone(from)))
		hooks.AnswerReply(w)
		return
	}
	if err := in.apply(r.Context(), src.Name, from, rep); err != nil {
		in.log.Error("inbound reply not applied; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		// Within the request's deadline (SMSFLEET_REQUEST_TIMEOUT): a Redis
		// that does not answer gets the provider a fast 503, not a hang.
		httprole.Unavailable(w, "inbound replies are unavailable, retry later")
		return
	}
	if err := provider.Mark(r.Context(), in.replays, src, replay); err != nil {
		// Applied but not marked: the provider's retry applies the same
		// keyword again (no change) and marks it.
		in.log.Error("inbound reply id not marked; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		httprole.Unavailable(w, "inbound replies are unavailable, retry later")
		return
	}
	hooks.AnswerReply(w) // in the kind's format (Twilio wants TwiML)
}

// Keyword is what a reply asks for: "stop", "start" or "" (nothing).
func (in *Inbound) Keyword(text string) string {
	// NFKC folds compatibility forms (fullwidth ＳＴＯＰ, ligatures) to
	// their plain letters; format characters (zero-width space and joiners,
	// BOM, bidi marks: Unicode category Cf) are invisible and dropped.
	text = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, norm.NFKC.String(text))
	w := strings.ToUpper(strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }))
	switch {
	case in.stop[w]:
		return "stop"
	case in.start[w]:
		return "start"
	}
	return ""
}

// maxTo bounds the `to` an unmatched reply is kept and logged with: a
// sender id is at most 16 characters, and the webhook body may hold 64 KiB.
const maxTo = 32

func (in *Inbound) apply(ctx context.Context, prov, from string, rep provider.Reply) error {
	kw := in.Keyword(rep.Text)
	if kw == "" {
		in.log.Debug("inbound reply without a keyword", zap.String("provider", prov), zap.String("from", sms.MaskPhone(from)))
		return nil
	}
	sender, ok := store.SenderScope(rep.To)
	var apps []string
	if ok {
		apps = in.apps(sender)
	}
	if len(apps) == 0 {
		// No application sends from `to` (a shared or unknown number, or a
		// forged one): applying it to any application would let a reply
		// meant for one tenant change another's list. It is kept, bounded,
		// for the operator, and counted.
		to := sender
		if !ok {
			to = rep.To
			if len(to) > maxTo {
				to = to[:maxTo]
			}
			to = strings.ToValidUTF8(to, "?")
		}
		if err := in.optOuts.AddUnmatched(ctx, store.UnmatchedReply{Provider: prov, From: from, To: to, Keyword: kw}); err != nil {
			return err
		}
		metrics.InboundUnmatched.WithLabelValues(prov).Inc()
		in.log.Warn("inbound reply to a sender no application sends from: kept as unmatched, no opt-out changed",
			zap.String("keyword", kw), zap.String("to", to), zap.String("from", sms.MaskPhone(from)), zap.String("provider", prov))
		return nil
	}
	changed, err := in.optOuts.ApplyReply(ctx, store.Reply{Phone: from, Sender: sender, Provider: prov, Start: kw == "start", Apps: apps})
	if err != nil {
		return err
	}
	for _, app := range changed {
		in.log.Info("inbound reply", zap.String("keyword", kw), zap.String("app", app), zap.String("sender", sender),
			zap.String("from", sms.MaskPhone(from)), zap.String("provider", prov))
	}
	return nil
}
