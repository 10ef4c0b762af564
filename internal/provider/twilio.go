package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio signs webhooks with HMAC-SHA1; we must compute what it sends
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// KindTwilio is Twilio's Messages API, or any gateway speaking it: sends
// by form POST with basic auth, delivery receipts and inbound replies as
// form posts signed with X-Twilio-Signature.
const KindTwilio KindName = "twilio"

func init() { register(twilioKind{}) }

type twilioKind struct{}

func (twilioKind) Name() KindName { return KindTwilio }

func (twilioKind) Validate(c Config) error {
	if err := required(c, "url", c.URL); err != nil {
		return err
	}
	if c.AccountSID == "" && Secret(c.AccountSIDEnv) == "" {
		return fmt.Errorf("provider %s (twilio): account_sid or a set account_sid_env is required", c.Name)
	}
	if Secret(c.AuthTokenEnv) == "" {
		return fmt.Errorf("provider %s (twilio): auth_token_env must name a set environment variable", c.Name)
	}
	return nil
}

func (twilioKind) New(c Config, d Deps) (Provider, error) {
	sid := c.AccountSID
	if sid == "" {
		sid = Secret(c.AccountSIDEnv)
	}
	callback := c.StatusCallback
	if callback == "" {
		callback = d.statusCallback(c.Name)
	}
	return NewTwilio(TwilioConfig{
		Name: c.Name, BaseURL: c.URL, AccountSID: sid, AuthToken: Secret(c.AuthTokenEnv),
		MessagingServiceSID: c.MessagingServiceSID, StatusCallback: callback, Timeout: c.timeout(),
	}, d.HTTP), nil
}

func (twilioKind) Webhooks() Webhooks { return twilioWebhooks{} }

// twilioWebhooks reads Twilio's status callbacks and incoming-message
// webhooks, both signed with the account's auth token.
type twilioWebhooks struct{}

func (twilioWebhooks) Secret(c Config) string { return Secret(c.AuthTokenEnv) }

func (twilioWebhooks) ParseReceipt(src Source, r *http.Request, body []byte, now time.Time) (sms.Receipt, Replay, error) {
	return ParseTwilioReceipt(src, r, body, now)
}

func (twilioWebhooks) ParseReply(src Source, r *http.Request, body []byte, _ time.Time) (Reply, Replay, error) {
	return ParseTwilioReply(src, r, body)
}

// AnswerReply answers with empty TwiML: Twilio wants TwiML, and an empty
// response sends no reply of ours.
func (twilioWebhooks) AnswerReply(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Response></Response>`))
}

// ParseTwilioReceipt reads a Twilio-style status callback: form fields
// MessageSid, MessageStatus, ErrorCode, signed with X-Twilio-Signature
// (see TwilioSignature) over the URL SignedURL gives. A final receipt's
// replay id is its sid and status: Twilio posts each status once.
func ParseTwilioReceipt(src Source, r *http.Request, body []byte, now time.Time) (sms.Receipt, Replay, error) {
	form, err := parseForm(body)
	if err != nil {
		return sms.Receipt{}, Replay{}, err
	}
	if err := checkTwilio(src, r, form); err != nil {
		return sms.Receipt{}, Replay{}, err
	}
	rec, err := twilioReceiptFields(src, form, now)
	if err != nil {
		return sms.Receipt{}, Replay{}, err
	}
	var replay Replay
	if rec.Final() {
		replay = Replay{ID: "sid:" + rec.Ref + ":" + string(rec.Status), TTL: TwilioReceiptSeenTTL}
	}
	return rec, replay, nil
}

// twilioReceiptFields reads a verified Twilio-style receipt's fields.
func twilioReceiptFields(src Source, form form, now time.Time) (sms.Receipt, error) {
	sid, st := form.Get("MessageSid"), form.Get("MessageStatus")
	if sid == "" || st == "" {
		return sms.Receipt{}, badRequest("MessageSid and MessageStatus are required")
	}
	if len(sid) > signature.MaxIDLength {
		// It is a Redis key (the replay id, the reference index).
		return sms.Receipt{}, badRequest(fmt.Sprintf("MessageSid: longer than %d bytes", signature.MaxIDLength))
	}
	return sms.Receipt{Provider: src.Name, Ref: sid, Status: TwilioStatus(st), ErrorCode: form.Get("ErrorCode"), At: now.UTC()}, nil
}

// checkTwilio verifies X-Twilio-Signature over the URL SignedURL gives.
func checkTwilio(src Source, r *http.Request, f form) error {
	u, ok := SignedURL(src, r)
	if !ok {
		return unauthorized("cannot check X-Twilio-Signature: the fleet's public URL (SMSFLEET_PUBLIC_URL) is not set")
	}
	if !validTwilioSignature(src.Secret, u, f, r.Header.Get("X-Twilio-Signature")) {
		return unauthorized("bad or missing X-Twilio-Signature")
	}
	return nil
}

// TwilioStatus maps a Twilio MessageStatus to a receipt's status:
// delivered; undelivered or failed (the carrier or Twilio gave up) are
// undelivered; anything else (queued, sending, sent, accepted, ...) is
// intermediate and kept as Twilio's word (see sms.Receipt).
func TwilioStatus(st string) sms.Status {
	switch s := strings.ToLower(st); s {
	case "delivered":
		return sms.Delivered
	case "undelivered", "failed":
		return sms.Undelivered
	default:
		return sms.Status(s)
	}
}

// ParseTwilioReply reads Twilio's incoming-message webhook: form fields
// MessageSid (or the older SmsSid), From, To, Body, signed like status
// callbacks. Twilio signs no timestamp, so the sid, unique to the inbound
// SMS, is the replay id and is required: without it a captured START
// could be posted again after a later STOP.
func ParseTwilioReply(src Source, r *http.Request, body []byte) (Reply, Replay, error) {
	form, err := parseForm(body)
	if err != nil {
		return Reply{}, Replay{}, err
	}
	if err := checkTwilio(src, r, form); err != nil {
		return Reply{}, Replay{}, err
	}
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	switch {
	case sid == "":
		return Reply{}, Replay{}, badRequest("MessageSid (or SmsSid) is required")
	case len(sid) > signature.MaxIDLength:
		return Reply{}, Replay{}, badRequest(fmt.Sprintf("MessageSid: longer than %d bytes", signature.MaxIDLength))
	case form.Get("From") == "":
		return Reply{}, Replay{}, badRequest("From is required")
	}
	return Reply{From: form.Get("From"), To: form.Get("To"), Text: form.Get("Body")},
		Replay{ID: "sid:" + sid, TTL: TwilioReplySeenTTL}, nil
}

// TwilioSignature computes X-Twilio-Signature for a webhook to url with
// form fields: base64 HMAC-SHA1, keyed by the account's auth token, of the
// URL followed by every field's name and value in name order. The
// webhooks verify it; the simulator signs its callbacks with it.
func TwilioSignature(token, url string, fields map[string][]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(url)
	for _, k := range keys {
		for _, v := range fields[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func validTwilioSignature(token, url string, f form, got string) bool {
	if token == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(TwilioSignature(token, url, f)), []byte(got))
}

// TwilioConfig configures a client of Twilio's Messages API, or of any
// gateway speaking it (smsfleet's simulator among them).
type TwilioConfig struct {
	// Name is the provider's name in results, errors and logs.
	Name string
	// BaseURL is the API root, without /2010-04-01; empty means
	// https://api.twilio.com.
	BaseURL    string
	AccountSID string
	AuthToken  string
	// MessagingServiceSID is sent as MessagingServiceSid when an SMS has no
	// From, so Twilio picks the sender from the service's number pool.
	MessagingServiceSID string
	// StatusCallback is the URL Twilio posts delivery receipts to.
	StatusCallback string
	// Timeout bounds one send; 0 leaves only the HTTP client's deadline.
	Timeout time.Duration
	// Now is the clock Request.Expires is read on; nil is time.Now.
	Now func() time.Time
}

// String leaves the auth token out, so a config that ends up in a log line
// or an error message does not leak the credential.
func (c TwilioConfig) String() string {
	return fmt.Sprintf("twilio %s (%s, account %s)", c.Name, c.BaseURL, c.AccountSID)
}

// TwilioDefaultBaseURL is the API root used when TwilioConfig.BaseURL is empty.
const TwilioDefaultBaseURL = "https://api.twilio.com"

// twilioPermanent are the Twilio error codes that say this SMS can never be
// delivered as sent, so retrying or failing over would only repeat the
// rejection: the number is invalid (21211), not a mobile number (21614),
// not reachable by SMS (21612), has unsubscribed (21610), is in a region
// the account may not send to (21408), or the carrier rejected the handset
// or content (30003 unreachable, 30004 blocked, 30005 unknown handset, 30006
// landline or unreachable carrier, 30007 filtered, 30008 unknown delivery
// error).
var twilioPermanent = map[string]bool{
	"21211": true, "21614": true, "21612": true, "21610": true, "21408": true,
	"30003": true, "30004": true, "30005": true, "30006": true, "30007": true, "30008": true,
}

// TwilioMaxValidity is the longest ValidityPeriod Twilio takes (its
// errors 21624 and 90007: whole seconds from 1 to 36,000, 10 hours, which
// is also its default). An SMS valid for longer is sent without one:
// Twilio's own limit (or the Messaging Service's) then ends it earlier
// than our deadline, never later.
const TwilioMaxValidity = 36000 * time.Second

// twilioThrottled is Twilio's "too many requests" code; some gateways send
// it with a status other than 429.
const twilioThrottled = "20429"

// Twilio sends SMS through Twilio's Messages API (form POST, basic auth).
// The SMS id goes along as Idempotency-Key: Twilio itself ignores it, but
// Twilio-compatible gateways and smsfleet's simulator honour it, so a retry
// after an ambiguous failure is not a second SMS there.
type Twilio struct {
	cfg TwilioConfig
	url string
	hc  *http.Client
}

// NewTwilio returns a Twilio client. A nil hc gets NewHTTPClient().
func NewTwilio(cfg TwilioConfig, hc *http.Client) *Twilio {
	if hc == nil {
		hc = NewHTTPClient()
	}
	if cfg.Name == "" {
		cfg.Name = "twilio"
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = TwilioDefaultBaseURL
	}
	u := base + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json"
	return &Twilio{cfg: cfg, url: u, hc: hc}
}

// Name implements Provider.
func (t *Twilio) Name() string { return t.cfg.Name }

// String leaves the auth token out (see TwilioConfig.String).
func (t *Twilio) String() string { return t.cfg.String() }

// Send implements Provider.
func (t *Twilio) Send(ctx context.Context, req Request) (Result, error) {
	form := url.Values{}
	form.Set("To", req.To)
	switch {
	case req.From != "":
		form.Set("From", req.From)
	case t.cfg.MessagingServiceSID != "":
		form.Set("MessagingServiceSid", t.cfg.MessagingServiceSID)
	}
	form.Set("Body", req.Text)
	// What is left of the SMS's validity, in whole seconds rounded down,
	// so Twilio drops it (status failed, error 30036) rather than deliver
	// it late.
	now := time.Now
	if t.cfg.Now != nil {
		now = t.cfg.Now
	}
	switch left, ok, expired := remaining(req.Expires, now()); {
	case expired:
		return Result{}, expiredError(t.cfg.Name)
	case ok && left <= TwilioMaxValidity:
		form.Set("ValidityPeriod", strconv.FormatInt(int64(left/time.Second), 10))
	}
	if t.cfg.StatusCallback != "" {
		form.Set("StatusCallback", t.cfg.StatusCallback)
	}

	ctx, cancel := withTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(form.Encode()))
	if err != nil {
		// A malformed BaseURL: every SMS would fail alike, so it is the
		// provider's problem (transient, trips the breaker), not the SMS's.
		return Result{}, &Error{Provider: t.cfg.Name, Class: Transient, Message: "build request", Err: err}
	}
	hr.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", "application/json")
	if req.ID != "" {
		hr.Header.Set("Idempotency-Key", req.ID)
	}
	resp, err := t.hc.Do(hr)
	if err != nil {
		// The client strips credentials from the URL in its errors, and the
		// token travels only in the Authorization header, so err is safe to
		// keep and log.
		return Result{}, NetworkError(t.cfg.Name, err)
	}
	raw, rerr := readBody(resp)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if rerr != nil {
			// The provider said yes but we lost the reference on the way.
			return Result{}, NetworkError(t.cfg.Name, rerr)
		}
		var ok struct {
			SID json.RawMessage `json:"sid"`
		}
		_ = json.Unmarshal(raw, &ok)
		if sid := scalar(ok.SID); sid != "" {
			return Result{Provider: t.cfg.Name, Ref: sid}, nil
		}
		// Accepted, perhaps, but without a sid no receipt can ever be
		// matched to it; retry on the same provider with the same key.
		return Result{}, &Error{Provider: t.cfg.Name, Class: Transient, Ambiguous: true,
			Message: fmt.Sprintf("HTTP %d without a message sid", resp.StatusCode)}
	}
	// An unreadable or non-JSON error body still has a status to classify.
	code, msg := errorDetails(raw)
	return Result{}, &Error{Provider: t.cfg.Name, Class: twilioClass(resp.StatusCode, code), Code: code,
		Message: statusMessage(msg, resp.StatusCode)}
}

// twilioClass classifies a non-2xx answer: Twilio's own code first (it is
// more precise than the status), then the status.
func twilioClass(status int, code string) Class {
	switch {
	case status == http.StatusTooManyRequests || code == twilioThrottled:
		return Throttled
	case twilioPermanent[code]:
		return Permanent
	}
	return StatusClass(status)
}

// SetStatusCallback sets the URL delivery receipts are posted to; call it
// before the first Send (the fleet does, when it knows its public URL).
func (t *Twilio) SetStatusCallback(url string) { t.cfg.StatusCallback = url }
