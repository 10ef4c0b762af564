// Package signature holds the webhook signatures smsfleet both checks (the
// JSON and simulator providers' webhooks) and makes (status callbacks).
//
// The scheme is Standard Webhooks (https://www.standardwebhooks.com):
// headers webhook-id, webhook-timestamp (unix seconds) and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>". The
// timestamp and id are signed with the body, so a captured webhook cannot
// be replayed later (the timestamp is stale) or within the window (its id
// was seen). The signing and the MAC comparison are the scheme's own Go
// library; the freshness check is here, against an injected clock.
//
// The legacy "sha256=<hex HMAC-SHA256 of the body>" (Sign, Valid) signs no
// timestamp and no id, so whoever captures one webhook can replay it for
// ever. It is still made for status callbacks (X-Smsfleet-Signature,
// deprecated, for one release) and checked only for a JSON provider that
// opts in with legacy_signature.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks headers.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// Tolerance is how far a webhook's timestamp may be from now, either way
// (the scheme's recommended 5 minutes). Seen ids must be kept at least
// this long on each side (SeenTTL).
const Tolerance = 5 * time.Minute

// SeenTTL is how long a verified webhook id is remembered: a bit over the
// whole window a timestamp is accepted in (Tolerance before and after
// now), so an id cannot be forgotten while its webhook is still fresh.
const SeenTTL = 2*Tolerance + time.Minute

// MaxIDLength bounds webhook-id: it becomes part of a Redis key.
const MaxIDLength = 256

// Errors of VerifyStandard; each is wrapped with the header it concerns.
var (
	ErrNoSecret     = errors.New("no webhook secret is configured")
	ErrMissing      = errors.New("missing")
	ErrMalformed    = errors.New("malformed")
	ErrStale        = errors.New("outside the 5 minute tolerance")
	ErrBadSignature = errors.New("no matching v1 signature")
)

// webhook returns the scheme's signer for secret. A secret written as the
// scheme's own "whsec_<base64>" is decoded as such, so a secret a
// Standard Webhooks sender generated works as it is; any other string is
// the HMAC key byte for byte (as smsfleet's secrets always were).
func webhook(secret string) (*standardwebhooks.Webhook, error) {
	if secret == "" {
		return nil, ErrNoSecret
	}
	if strings.HasPrefix(secret, "whsec_") {
		return standardwebhooks.NewWebhook(secret)
	}
	return standardwebhooks.NewWebhookRaw([]byte(secret))
}

// SignStandard returns the webhook-signature value of body sent as id at
// ts: "v1,<base64 HMAC-SHA256 of id.unix(ts).body>".
func SignStandard(secret, id string, ts time.Time, body []byte) (string, error) {
	wh, err := webhook(secret)
	if err != nil {
		return "", err
	}
	return wh.Sign(id, ts, body)
}

// SetStandard sets the three Standard Webhooks headers of body on h.
func SetStandard(h http.Header, secret, id string, ts time.Time, body []byte) error {
	sig, err := SignStandard(secret, id, ts, body)
	if err != nil {
		return fmt.Errorf("signing webhook %s: %w", id, err)
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// VerifyStandard checks body's Standard Webhooks headers in h under
// secret at now, and returns the webhook's id, which the caller must
// refuse if it has seen it before (within SeenTTL). The timestamp is
// checked first and against now, not the wall clock, so a test can inject
// its clock; the MAC is the library's, compared in constant time.
func VerifyStandard(secret string, h http.Header, body []byte, now time.Time) (string, error) {
	wh, err := webhook(secret)
	if err != nil {
		return "", err
	}
	id, ts, sig := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	switch {
	case id == "":
		return "", fmt.Errorf("%s: %w", HeaderID, ErrMissing)
	case ts == "":
		return "", fmt.Errorf("%s: %w", HeaderTimestamp, ErrMissing)
	case sig == "":
		return "", fmt.Errorf("%s: %w", HeaderSignature, ErrMissing)
	case len(id) > MaxIDLength:
		return "", fmt.Errorf("%s: %w: longer than %d bytes", HeaderID, ErrMalformed, MaxIDLength)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%s: %w: not unix seconds", HeaderTimestamp, ErrMalformed)
	}
	// Compared in seconds, so no conversion to a time.Duration overflows.
	if d := now.Unix() - sec; d > int64(Tolerance/time.Second) || d < -int64(Tolerance/time.Second) {
		return "", fmt.Errorf("%s: %w", HeaderTimestamp, ErrStale)
	}
	if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
		return "", fmt.Errorf("%s: %w", HeaderSignature, ErrBadSignature)
	}
	return id, nil
}

// Sign returns body's legacy signature under secret:
// "sha256=<hex HMAC-SHA256 of the body>". It signs no timestamp or id.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Valid reports whether got is body's legacy signature under secret, in
// constant time. An empty secret validates nothing: an unconfigured
// secret must not make every request look signed.
func Valid(secret string, body []byte, got string) bool {
	return secret != "" && hmac.Equal([]byte(Sign(secret, body)), []byte(got))
}
