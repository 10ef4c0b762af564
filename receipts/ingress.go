package receipts

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/worker/provider"
)

// Source is a provider whose receipts the ingress accepts, with what it
// signs them with.
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

// Ingress serves POST /webhooks/dlr/{provider}.
type Ingress struct {
	sources  map[string]Source
	producer *Producer
	log      *zap.Logger
	now      func() time.Time
}

// NewIngress returns the webhook ingress for sources.
func NewIngress(sources []Source, p *Producer, log *zap.Logger) *Ingress {
	in := &Ingress{sources: map[string]Source{}, producer: p, log: log, now: time.Now}
	for _, s := range sources {
		in.sources[s.Name] = s
	}
	return in
}

// Register mounts the webhook on mux.
func (in *Ingress) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /webhooks/dlr/{provider}", in.serve)
}

const maxReceiptBody = 64 << 10

// readWebhook finds the provider a webhook names and reads its body,
// answering 404 or 400 itself (ok false) when it cannot.
func readWebhook(w http.ResponseWriter, r *http.Request, sources map[string]Source) (Source, []byte, bool) {
	src, ok := sources[r.PathValue("provider")]
	if !ok {
		http.Error(w, "unknown provider "+r.PathValue("provider"), http.StatusNotFound)
		return Source{}, nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReceiptBody))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return Source{}, nil, false
	}
	return src, body, true
}

func (in *Ingress) serve(w http.ResponseWriter, r *http.Request) {
	src, body, ok := readWebhook(w, r, in.sources)
	if !ok {
		return
	}
	var err error
	var rec Record
	var status int
	switch src.Kind {
	case "json":
		rec, status, err = in.parseJSON(src, r, body)
	default:
		rec, status, err = in.parseTwilio(src, r, body)
	}
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	// Answer 2xx only once Kafka has it: otherwise the provider retries.
	if err := in.producer.Produce(r.Context(), rec); err != nil {
		in.log.Error("receipt not landed in Kafka; answering 503 so the provider retries", zap.String("provider", src.Name), zap.Error(err))
		http.Error(w, "receipts are unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type badRequest string

func (e badRequest) Error() string { return string(e) }

// parseTwilio reads a Twilio-style status callback: form fields
// MessageSid, MessageStatus, ErrorCode, signed with X-Twilio-Signature
// (base64 HMAC-SHA1, keyed by the auth token, of the URL followed by every
// form field's name and value in name order).
func (in *Ingress) parseTwilio(src Source, r *http.Request, body []byte) (Record, int, error) {
	form, err := parseForm(body)
	if err != nil {
		return Record{}, http.StatusBadRequest, err
	}
	if !validTwilioSignature(src.Secret, requestURL(r), form, r.Header.Get("X-Twilio-Signature")) {
		return Record{}, http.StatusUnauthorized, badRequest("bad or missing X-Twilio-Signature")
	}
	sid, st := form.Get("MessageSid"), form.Get("MessageStatus")
	if sid == "" || st == "" {
		return Record{}, http.StatusBadRequest, badRequest("MessageSid and MessageStatus are required")
	}
	return Record{Provider: src.Name, Ref: sid, Status: normalise(st), ErrorCode: form.Get("ErrorCode"), At: in.now().UTC()}, 0, nil
}

// parseJSON reads {"ref": ..., "status": ..., "error_code": ...} signed
// with X-Signature: sha256=<hex HMAC-SHA256 of the body>.
func (in *Ingress) parseJSON(src Source, r *http.Request, body []byte) (Record, int, error) {
	if !signature.Valid(src.Secret, body, r.Header.Get("X-Signature")) {
		return Record{}, http.StatusUnauthorized, badRequest("bad or missing X-Signature")
	}
	var in0 struct {
		Ref       string `json:"ref"`
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
	}
	if err := json.Unmarshal(body, &in0); err != nil {
		return Record{}, http.StatusBadRequest, badRequest("malformed JSON: " + err.Error())
	}
	if in0.Ref == "" || in0.Status == "" {
		return Record{}, http.StatusBadRequest, badRequest("ref and status are required")
	}
	return Record{Provider: src.Name, Ref: in0.Ref, Status: normalise(in0.Status), ErrorCode: in0.ErrorCode, At: in.now().UTC()}, 0, nil
}

// normalise maps provider statuses to smsfleet's: delivered, undelivered,
// or the provider's own word for an intermediate state.
func normalise(s string) string {
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

// requestURL is the URL the provider called, as it signed it: behind a
// proxy the scheme and host come from X-Forwarded-Proto and -Host.
func requestURL(r *http.Request) string {
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
	return hmac.Equal([]byte(provider.TwilioSignature(token, url, f)), []byte(got))
}
