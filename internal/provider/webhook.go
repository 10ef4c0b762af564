package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/signature"
)

// Source is a provider whose webhooks (delivery receipts, inbound replies)
// are accepted: its kind reads them (Kind.Webhooks), checking them against
// Secret.
type Source struct {
	Name string
	Kind KindName
	// Secret is what the provider signs its webhooks with (see the kind's
	// Webhooks.Secret).
	Secret string
	// LegacySignature accepts a json provider's X-Signature, which signs
	// no timestamp or id and so can be replayed (Config.LegacySignature).
	LegacySignature bool
	// PublicURL is SMSFLEET_PUBLIC_URL, the base of the URL a Twilio-style
	// provider signs (it signs the URL it called, and no timestamp).
	PublicURL string
	// TrustedProxies (SMSFLEET_TRUSTED_PROXIES) are the peers whose
	// X-Forwarded-Proto and X-Forwarded-Host are believed; from any other
	// peer those headers, like Host, are the caller's to choose and are
	// ignored.
	TrustedProxies []netip.Prefix
}

// Replay is how a verified webhook is recognised if it comes again: the
// caller applies nothing when ID was seen (Seen), and marks it for TTL
// once applied (Mark). An empty ID is a webhook nothing needs to remember (an
// intermediate receipt, which changes nothing; or a legacy-signed one,
// which carries no id).
type Replay struct {
	ID  string
	TTL time.Duration
}

// Replays remembers the replay ids of webhooks already applied (the
// store: store.WebhookSeen, store.MarkWebhook).
type Replays interface {
	WebhookSeen(ctx context.Context, provider, id string) (bool, error)
	MarkWebhook(ctx context.Context, provider, id string, ttl time.Duration) error
}

// ErrNoReplays is the error of a webhook handler built without Replays:
// it refuses (503) rather than take webhooks it cannot tell from replays.
var ErrNoReplays = errors.New("no store of webhook ids is configured")

// Seen reports whether src's webhook with replay rp was applied before
// (false for an empty id). An error (Redis down, or no Replays) must be
// answered 503 so the provider retries: a verified webhook whose id could
// not be checked is never applied.
func Seen(ctx context.Context, replays Replays, src Source, rp Replay) (bool, error) {
	if rp.ID == "" {
		return false, nil
	}
	if replays == nil {
		return false, ErrNoReplays
	}
	return replays.WebhookSeen(ctx, src.Name, rp.ID)
}

// Mark records that src's webhook with replay rp was applied; call it
// after applying (see store.WebhookSeen for why after). An error must be
// answered 503: the provider's retry applies the same change again and
// marks it.
func Mark(ctx context.Context, replays Replays, src Source, rp Replay) error {
	if rp.ID == "" {
		return nil
	}
	if replays == nil {
		return ErrNoReplays
	}
	return replays.MarkWebhook(ctx, src.Name, rp.ID, rp.TTL)
}

// How long a Twilio-style webhook's sid is remembered. Twilio signs no
// timestamp, so its sid is all that tells a replay from a new webhook,
// and only while it is remembered. A reply (a STOP or START) is rare and
// decides consent: its sid is kept 30 days. A final receipt is one per
// SMS and a replay of one changes nothing anyway (the status machine only
// moves forward, docs/decisions.md#4): kept a day, to refuse floods.
const (
	TwilioReplySeenTTL   = 30 * 24 * time.Hour
	TwilioReceiptSeenTTL = 24 * time.Hour
)

// standardReplay is the Replay of a verified Standard Webhooks id.
func standardReplay(id string) Replay { return Replay{ID: "swh:" + id, TTL: signature.SeenTTL} }

// Webhooks returns the reader of src's kind, nil when the kind takes none.
func (s Source) Webhooks() Webhooks {
	if k, ok := kinds[s.Kind]; ok {
		return k.Webhooks()
	}
	return nil
}

// MaxWebhookBody bounds a receipt or reply webhook's body.
const MaxWebhookBody = 64 << 10

// ReadWebhook finds the provider a webhook names, its kind's webhook
// reader, and reads the body, answering 404, 413 (over MaxWebhookBody) or
// 400 itself (ok false) when it cannot.
func ReadWebhook(w http.ResponseWriter, r *http.Request, sources map[string]Source) (Source, Webhooks, []byte, bool) {
	src, ok := sources[r.PathValue("provider")]
	hooks := src.Webhooks()
	if !ok || hooks == nil {
		http.Error(w, "unknown provider "+r.PathValue("provider"), http.StatusNotFound)
		return Source{}, nil, nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("body: larger than %d bytes", MaxWebhookBody), http.StatusRequestEntityTooLarge)
			return Source{}, nil, nil, false
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return Source{}, nil, nil, false
	}
	return src, hooks, body, true
}

// WebhookError is a webhook refused, with the HTTP status to answer.
type WebhookError struct {
	Status int
	Msg    string
}

func (e *WebhookError) Error() string { return e.Msg }

func badRequest(msg string) error   { return &WebhookError{Status: http.StatusBadRequest, Msg: msg} }
func unauthorized(msg string) error { return &WebhookError{Status: http.StatusUnauthorized, Msg: msg} }

// verifyStandard checks a Standard Webhooks signature (or, for a json
// source that opted in, the legacy X-Signature) and returns the replay.
func verifyStandard(src Source, r *http.Request, body []byte, now time.Time) (Replay, error) {
	if src.LegacySignature && r.Header.Get(signature.HeaderSignature) == "" {
		// Opted in, and documented as replayable: nothing to remember.
		if !signature.Valid(src.Secret, body, r.Header.Get("X-Signature")) {
			return Replay{}, unauthorized("bad or missing X-Signature (or webhook-id, webhook-timestamp and webhook-signature)")
		}
		return Replay{}, nil
	}
	id, err := signature.VerifyStandard(src.Secret, r.Header, body, now)
	if err != nil {
		return Replay{}, unauthorized("bad signature: " + err.Error())
	}
	return standardReplay(id), nil
}

// Reply is one inbound SMS, as normalised from any provider.
type Reply struct {
	From, To, Text string
}

type form map[string][]string

func (f form) Get(k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseForm(body []byte) (form, error) {
	r, err := http.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("malformed form body: " + err.Error())
	}
	return form(r.PostForm), nil
}

// SignedURL is the URL a Twilio-style provider signed: the fleet's
// public URL (SMSFLEET_PUBLIC_URL) and the path and query called. Host and
// X-Forwarded-* are the caller's to choose, so an attacker could make the
// fleet check a signature over a URL of theirs (one Twilio signed for
// their own account's webhook, say); they are read only from a peer in
// src.TrustedProxies, which sets them itself. ok is false when neither
// gives a URL.
func SignedURL(src Source, r *http.Request) (string, bool) {
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && trusted(src.TrustedProxies, r.RemoteAddr) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
			scheme = p
		}
		return scheme + "://" + fh + r.URL.RequestURI(), true
	}
	if src.PublicURL == "" {
		return "", false
	}
	return strings.TrimRight(src.PublicURL, "/") + r.URL.RequestURI(), true
}

// trusted reports whether the peer at remoteAddr (host:port) is in one of
// prefixes.
func trusted(prefixes []netip.Prefix, remoteAddr string) bool {
	if len(prefixes) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
