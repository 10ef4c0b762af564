package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// KindJSON is any JSON-over-HTTP SMS API, its shape described in the
// configuration (GenericConfig). Its delivery receipts and inbound replies
// are JSON signed the Standard Webhooks way (webhook-id, webhook-timestamp,
// webhook-signature; see internal/signature) with the secret
// dlr_secret_env names; legacy_signature also accepts the old, replayable
// X-Signature: sha256=<hex HMAC-SHA256 of the body>.
const KindJSON KindName = "json"

func init() { register(jsonKind{}) }

type jsonKind struct{}

func (jsonKind) Name() KindName { return KindJSON }

func (jsonKind) Validate(c Config) error {
	if err := required(c, "url", c.URL); err != nil {
		return err
	}
	return requireSecret(c, "dlr_secret_env", Secret(c.DLRSecretEnv))
}

func (jsonKind) New(c Config, d Deps) (Provider, error) {
	g, err := NewGeneric(GenericConfig{
		Name: c.Name, URL: c.URL, Method: c.Method, AuthHeader: c.AuthHeader, AuthValue: Secret(c.AuthValueEnv),
		RequestTemplate: c.RequestTemplate, RefField: c.RefField, Timeout: c.timeout(),
	}, d.HTTP)
	if err != nil {
		return nil, err
	}
	return g, nil
}

func (jsonKind) Webhooks() Webhooks { return jsonWebhooks{} }

// jsonWebhooks reads JSON receipts and replies signed with Standard
// Webhooks. The simulator's replies take this format too.
type jsonWebhooks struct{}

// Secret is the HMAC key dlr_secret_env names.
func (jsonWebhooks) Secret(c Config) string { return Secret(c.DLRSecretEnv) }

func (jsonWebhooks) ParseReceipt(src Source, r *http.Request, body []byte, now time.Time) (sms.Receipt, Replay, error) {
	return ParseJSONReceipt(src, r, body, now)
}

func (jsonWebhooks) ParseReply(src Source, r *http.Request, body []byte, now time.Time) (Reply, Replay, error) {
	return ParseJSONReply(src, r, body, now)
}

// AnswerReply answers 204: the reply is taken, there is nothing to say.
func (jsonWebhooks) AnswerReply(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// ParseJSONReceipt reads {"ref": ..., "status": ..., "error_code": ...}
// signed with Standard Webhooks (see verifyStandard).
func ParseJSONReceipt(src Source, r *http.Request, body []byte, now time.Time) (sms.Receipt, Replay, error) {
	replay, err := verifyStandard(src, r, body, now)
	if err != nil {
		return sms.Receipt{}, Replay{}, err
	}
	var in struct {
		Ref       string `json:"ref"`
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return sms.Receipt{}, Replay{}, badRequest("malformed JSON: " + err.Error())
	}
	if in.Ref == "" || in.Status == "" {
		return sms.Receipt{}, Replay{}, badRequest("ref and status are required")
	}
	return sms.Receipt{Provider: src.Name, Ref: in.Ref, Status: JSONStatus(in.Status), ErrorCode: in.ErrorCode, At: now.UTC()}, replay, nil
}

// JSONStatus maps a JSON gateway's status word to a receipt's status. A
// generic gateway may use HTTP-API words or relay its SMSC's SMPP stat
// words, so both are read: delivered (DELIVRD); undelivered, failed,
// expired, rejected (REJECTD), deleted (UNDELIV) are undelivered;
// anything else is intermediate and kept, lower-cased (see sms.Receipt).
func JSONStatus(st string) sms.Status {
	switch s := strings.ToLower(st); s {
	case "delivered", "delivrd":
		return sms.Delivered
	case "undelivered", "undeliv", "failed", "expired", "rejected", "rejectd", "deleted":
		return sms.Undelivered
	default:
		return sms.Status(s)
	}
}

// ParseJSONReply reads {"from": ..., "to": ..., "text": ...} signed with
// Standard Webhooks (the simulator and the generic JSON provider).
func ParseJSONReply(src Source, r *http.Request, body []byte, now time.Time) (Reply, Replay, error) {
	replay, err := verifyStandard(src, r, body, now)
	if err != nil {
		return Reply{}, Replay{}, err
	}
	var rep struct {
		From string `json:"from"`
		To   string `json:"to"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return Reply{}, Replay{}, badRequest("malformed JSON: " + err.Error())
	}
	if rep.From == "" {
		return Reply{}, Replay{}, badRequest("from is required")
	}
	return Reply{From: rep.From, To: rep.To, Text: rep.Text}, replay, nil
}

// GenericConfig configures a client of a JSON-over-HTTP SMS API whose shape
// is described here rather than in code, so a new gateway needs
// configuration, not a release.
type GenericConfig struct {
	// Name is the provider's name in results, errors and logs.
	Name string
	// URL is where SMS are sent.
	URL string
	// Method defaults to POST.
	Method string
	// AuthHeader and AuthValue are one header carrying the credential, e.g.
	// "Authorization" and "Bearer xyz". AuthHeader defaults to
	// Authorization when AuthValue is set.
	AuthHeader string
	AuthValue  string
	// RequestTemplate is a text/template producing the JSON body from the
	// fields .ID .To .From .Text, .Expires (a time.Time, zero when the SMS
	// has no deadline) and .ValiditySeconds (what is left of its validity
	// in whole seconds, 0 when none), for a gateway that takes a validity.
	// Values must go through the json function, which writes them as JSON
	// (quoted and escaped):
	//   {"to": {{json .To}}, "text": {{json .Text}}{{if .ValiditySeconds}}, "validity": {{.ValiditySeconds}}{{end}}}
	// Empty means DefaultGenericTemplate.
	RequestTemplate string
	// RefField is the dot path of the message reference in the JSON answer,
	// e.g. "data.message_id"; a string or a number. Empty means "id".
	RefField string
	// Timeout bounds one send; 0 leaves only the HTTP client's deadline.
	Timeout time.Duration
	// Now is the clock Request.Expires is read on; nil is time.Now.
	Now func() time.Time
}

// String leaves the auth value out, so a config that ends up in a log line
// or an error message does not leak the credential.
func (c GenericConfig) String() string {
	return fmt.Sprintf("generic %s (%s %s)", c.Name, c.Method, c.URL)
}

// DefaultGenericTemplate is the request body when GenericConfig has none.
const DefaultGenericTemplate = `{"id":{{json .ID}},"to":{{json .To}},"from":{{json .From}},"text":{{json .Text}}}`

// Generic sends SMS to a JSON API described by a GenericConfig, with the
// SMS id as Idempotency-Key.
type Generic struct {
	cfg  GenericConfig
	tmpl *template.Template
	ref  []string
	hc   *http.Client
}

// NewGeneric checks cfg and returns its client. A nil hc gets
// NewHTTPClient(). The template is parsed and tried on a sample SMS now,
// so a broken one stops the process at start-up instead of failing every
// SMS later.
func NewGeneric(cfg GenericConfig, hc *http.Client) (*Generic, error) {
	if cfg.Name == "" {
		return nil, errors.New("generic provider: Name is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("generic provider %s: URL %q is not an http(s) URL", cfg.Name, cfg.URL)
	}
	cfg.Method = strings.ToUpper(cfg.Method)
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.AuthValue != "" && cfg.AuthHeader == "" {
		cfg.AuthHeader = "Authorization"
	}
	if cfg.RequestTemplate == "" {
		cfg.RequestTemplate = DefaultGenericTemplate
	}
	if cfg.RefField == "" {
		cfg.RefField = "id"
	}
	ref := strings.Split(cfg.RefField, ".")
	for _, p := range ref {
		if p == "" {
			return nil, fmt.Errorf("generic provider %s: RefField %q has an empty segment", cfg.Name, cfg.RefField)
		}
	}
	tmpl, err := template.New(cfg.Name + " request template").
		Option("missingkey=error").
		Funcs(template.FuncMap{"json": jsonValue}).
		Parse(cfg.RequestTemplate)
	if err != nil {
		return nil, fmt.Errorf("generic provider %s: RequestTemplate: %w", cfg.Name, err)
	}
	if hc == nil {
		hc = NewHTTPClient()
	}
	g := &Generic{cfg: cfg, tmpl: tmpl, ref: ref, hc: hc}
	// Characters that need escaping catch a value written without json.
	sample := Request{ID: `sample"id`, To: "+15550000000", From: "Sender", Text: "line \"one\"\nline two", Expires: time.Now().Add(time.Hour)}
	if _, err := g.body(sample, time.Hour); err != nil {
		return nil, fmt.Errorf("generic provider %s: RequestTemplate: %w", cfg.Name, err)
	}
	return g, nil
}

// jsonValue writes v as JSON for a template. HTML escaping is off: the
// body is JSON for an API, not a web page, and "<" should reach the phone
// as "<", not depend on the gateway decoding \u003c.
func jsonValue(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// templateData is what RequestTemplate renders: the request's fields and
// ValiditySeconds.
type templateData struct {
	Request
	ValiditySeconds int64
}

// body renders the request body, with validity seconds left, and checks
// that it is JSON.
func (g *Generic) body(req Request, validity time.Duration) ([]byte, error) {
	var b bytes.Buffer
	if err := g.tmpl.Execute(&b, templateData{Request: req, ValiditySeconds: int64(validity / time.Second)}); err != nil {
		return nil, err
	}
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("renders invalid JSON (write values as {{json .Field}}): %.200s", b.String())
	}
	return b.Bytes(), nil
}

// Name implements Provider.
func (g *Generic) Name() string { return g.cfg.Name }

// String leaves the auth value out (see GenericConfig.String).
func (g *Generic) String() string { return g.cfg.String() }

// Send implements Provider.
func (g *Generic) Send(ctx context.Context, req Request) (Result, error) {
	now := time.Now
	if g.cfg.Now != nil {
		now = g.cfg.Now
	}
	left, _, expired := remaining(req.Expires, now())
	if expired {
		return Result{}, expiredError(g.cfg.Name)
	}
	body, err := g.body(req, left)
	if err != nil {
		// The template was tried at start-up, so this is this SMS's content
		// (text/template fails only on values it cannot render): permanent.
		return Result{}, &Error{Provider: g.cfg.Name, Class: Permanent, Message: "render request", Err: err}
	}
	ctx, cancel := withTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, g.cfg.Method, g.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Result{}, &Error{Provider: g.cfg.Name, Class: Transient, Message: "build request", Err: err}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	if req.ID != "" {
		hr.Header.Set("Idempotency-Key", req.ID)
	}
	if g.cfg.AuthHeader != "" {
		hr.Header.Set(g.cfg.AuthHeader, g.cfg.AuthValue)
	}
	resp, err := g.hc.Do(hr)
	if err != nil {
		return Result{}, NetworkError(g.cfg.Name, err)
	}
	raw, rerr := readBody(resp)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if rerr != nil {
			return Result{}, NetworkError(g.cfg.Name, rerr)
		}
		if ref := lookupRef(raw, g.ref); ref != "" {
			return Result{Provider: g.cfg.Name, Ref: ref}, nil
		}
		// Perhaps accepted, but untrackable: retry the same provider with
		// the same idempotency key rather than risk a duplicate elsewhere.
		return Result{}, &Error{Provider: g.cfg.Name, Class: Transient, Ambiguous: true,
			Message: fmt.Sprintf("HTTP %d without %s in the answer", resp.StatusCode, g.cfg.RefField)}
	}
	code, msg := errorDetails(raw)
	return Result{}, &Error{Provider: g.cfg.Name, Class: StatusClass(resp.StatusCode), Code: code,
		Message: statusMessage(msg, resp.StatusCode)}
}

// lookupRef follows path through a JSON document and returns the string or
// number found there, or "".
func lookupRef(raw []byte, path []string) string {
	cur := json.RawMessage(raw)
	for _, key := range path {
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil {
			return ""
		}
		next, ok := obj[key]
		if !ok {
			return ""
		}
		cur = next
	}
	return scalar(cur)
}
