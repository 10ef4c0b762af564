package provider

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
}

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
