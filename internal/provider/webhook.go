package provider

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/signature"
)

// Source is a provider whose webhooks (delivery receipts, inbound replies)
// are accepted, with what it signs them with.
type Source struct {
	Name string
	// Kind is "twilio" (also the simulator: Twilio-style status callbacks
	// signed with X-Twilio-Signature) or "json" (HMAC-SHA256 of the body).
	Kind string
	// Secret is the Twilio auth token, or the JSON provider's HMAC key.
	Secret string
	// Simulator marks the provider simulator: Twilio-style receipts, but
	// inbound replies in the JSON format.
	Simulator bool
}

// MaxWebhookBody bounds a receipt or reply webhook's body.
const MaxWebhookBody = 64 << 10

// ReadWebhook finds the provider a webhook names and reads its body,
// answering 404 or 400 itself (ok false) when it cannot.
func ReadWebhook(w http.ResponseWriter, r *http.Request, sources map[string]Source) (Source, []byte, bool) {
	src, ok := sources[r.PathValue("provider")]
	if !ok {
		http.Error(w, "unknown provider "+r.PathValue("provider"), http.StatusNotFound)
		return Source{}, nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return Source{}, nil, false
	}
	return src, body, true
}

// WebhookError is a webhook refused, with the HTTP status to answer.
type WebhookError struct {
	Status int
	Msg    string
}

func (e *WebhookError) Error() string { return e.Msg }

func badRequest(msg string) error   { return &WebhookError{Status: http.StatusBadRequest, Msg: msg} }
func unauthorized(msg string) error { return &WebhookError{Status: http.StatusUnauthorized, Msg: msg} }

// Reply is one inbound SMS, as normalised from any provider.
type Reply struct {
	From, To, Text string
}

// ParseTwilioReceipt reads a Twilio-style status callback: form fields
// MessageSid, MessageStatus, ErrorCode, signed with X-Twilio-Signature
// (base64 HMAC-SHA1, keyed by the auth token, of the URL followed by every
// form field's name and value in name order).
func ParseTwilioReceipt(src Source, r *http.Request, body []byte, now time.Time) (Receipt, error) {
	form, err := parseForm(body)
	if err != nil {
		return Receipt{}, err
	}
	if !validTwilioSignature(src.Secret, RequestURL(r), form, r.Header.Get("X-Twilio-Signature")) {
		return Receipt{}, unauthorized("bad or missing X-Twilio-Signature")
	}
	sid, st := form.Get("MessageSid"), form.Get("MessageStatus")
	if sid == "" || st == "" {
		return Receipt{}, badRequest("MessageSid and MessageStatus are required")
	}
	return Receipt{Provider: src.Name, Ref: sid, Status: NormaliseStatus(st), ErrorCode: form.Get("ErrorCode"), At: now.UTC()}, nil
}

// ParseJSONReceipt reads {"ref": ..., "status": ..., "error_code": ...}
// signed with X-Signature: sha256=<hex HMAC-SHA256 of the body>.
func ParseJSONReceipt(src Source, r *http.Request, body []byte, now time.Time) (Receipt, error) {
	if !signature.Valid(src.Secret, body, r.Header.Get("X-Signature")) {
		return Receipt{}, unauthorized("bad or missing X-Signature")
	}
	var in struct {
		Ref       string `json:"ref"`
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return Receipt{}, badRequest("malformed JSON: " + err.Error())
	}
	if in.Ref == "" || in.Status == "" {
		return Receipt{}, badRequest("ref and status are required")
	}
	return Receipt{Provider: src.Name, Ref: in.Ref, Status: NormaliseStatus(in.Status), ErrorCode: in.ErrorCode, At: now.UTC()}, nil
}

// ParseTwilioReply reads Twilio's incoming-message webhook: form fields
// From, To, Body, signed like status callbacks.
func ParseTwilioReply(src Source, r *http.Request, body []byte) (Reply, error) {
	form, err := parseForm(body)
	if err != nil {
		return Reply{}, err
	}
	if !validTwilioSignature(src.Secret, RequestURL(r), form, r.Header.Get("X-Twilio-Signature")) {
		return Reply{}, unauthorized("bad or missing X-Twilio-Signature")
	}
	if form.Get("From") == "" {
		return Reply{}, badRequest("From is required")
	}
	return Reply{From: form.Get("From"), To: form.Get("To"), Text: form.Get("Body")}, nil
}

// ParseJSONReply reads {"from": ..., "to": ..., "text": ...} signed with
// X-Signature: sha256=<hex HMAC-SHA256 of the body> (the simulator and
// the generic JSON provider).
func ParseJSONReply(src Source, r *http.Request, body []byte) (Reply, error) {
	if !signature.Valid(src.Secret, body, r.Header.Get("X-Signature")) {
		return Reply{}, unauthorized("bad or missing X-Signature")
	}
	var rep struct {
		From string `json:"from"`
		To   string `json:"to"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return Reply{}, badRequest("malformed JSON: " + err.Error())
	}
	if rep.From == "" {
		return Reply{}, badRequest("from is required")
	}
	return Reply{From: rep.From, To: rep.To, Text: rep.Text}, nil
}

// NormaliseStatus maps provider statuses to smsfleet's: delivered,
// undelivered, or the provider's own word for an intermediate state.
func NormaliseStatus(s string) string {
	switch strings.ToLower(s) {
	case "delivered", "delivrd":
		return "delivered"
	case "undelivered", "undeliv", "failed", "expired", "rejected", "rejectd", "deleted":
		return "undelivered"
	}
	return strings.ToLower(s)
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

// RequestURL is the URL the provider called, as it signed it: behind a
// proxy the scheme and host come from X-Forwarded-Proto and -Host.
func RequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	return scheme + "://" + host + r.URL.RequestURI()
}

func validTwilioSignature(token, url string, f form, got string) bool {
	if token == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(TwilioSignature(token, url, f)), []byte(got))
}
