package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/groupcommit"
	"github.com/smsfleet/smsfleet/internal/guard"
	"github.com/smsfleet/smsfleet/internal/quota"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Options configure the intake API.
type Options struct {
	Store *store.Store
	// Enqueuer hands accepted messages to the dispatcher's queues.
	Enqueuer      *dispatcher.Enqueuer
	Inspector     *asynq.Inspector
	Apps          config.Applications
	MaxBodyBytes  int64
	MaxRecipients int
	DefaultRegion string
	ChunkSize     int
	// Policy returns an application's resolved content and policy settings.
	Policy func(app string) config.Resolved
	// DeliveryWait is the default delivery_wait.
	DeliveryWait time.Duration
	// CallbackSecret returns the secret an application's status callbacks
	// are signed with ("" for none: such an application cannot ask for
	// callbacks, since the receiver could not tell ours from a forgery).
	CallbackSecret func(app string) string
	// Rates reports the fleet's rate limits (nil: none configured).
	Rates *RateStatus
	// Currency is the configured prices' currency ("" when no prices are
	// configured: costs are unknown and not shown; cost.go).
	Currency string
	// Quotas are the applications' quotas (quota.go); nil: none checked.
	Quotas *quota.Store
	// UnauthenticatedBodyBytes bounds what is read of a body before its
	// caller is authenticated (SMSFLEET_UNAUTHENTICATED_BODY_BYTES; 0:
	// 64 KiB, at most MaxBodyBytes). See readRequest.
	UnauthenticatedBodyBytes int64
	// MaxBodyBytesInFlight caps the body bytes all requests of this
	// process hold at once (SMSFLEET_MAX_BODY_BYTES_IN_FLIGHT; 0: four
	// times MaxBodyBytes); a request that cannot get its share before its
	// deadline is answered 503 with Retry-After.
	MaxBodyBytesInFlight int64
	// Guard counts, logs and throttles authentication failures (nil: one
	// that counts and logs but never throttles).
	Guard *authguard.Guard
	// Guards are the applications' spend and fraud guards (guards.go;
	// nil: none).
	Guards *guard.Guards
	Logger *zap.Logger
	// Now is the clock; tests inject one to schedule a few seconds ahead.
	Now func() time.Time
}

// API serves the Pushwoosh-compatible and native endpoints.
type API struct {
	Options
	// bodies holds the bytes of request bodies in flight: each request
	// acquires what it may read before reading it (bodylimit.go).
	bodies  *bodyBudget
	log     *zap.Logger
	apps    map[string]config.Application
	tokens  map[string]tokenInfo
	methods map[string]method
	// refusals rate-limits the log lines of refused user bindings.
	refusals refusalLog
	// creates writes concurrent direct messages together (group.go).
	creates *groupcommit.Group[*pendingCreate]
}

type tokenInfo struct {
	app    string
	server bool
}

// access is what a method demands of the caller's token.
type access int

const (
	serverToken access = iota // the application's server token
	deviceToken               // its server or device token, or none for an open application
)

type method struct {
	access  access
	handler func(ctx context.Context, app string, raw json.RawMessage) (any, error)
}

// NewAPI builds the API.
func NewAPI(o Options) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.UnauthenticatedBodyBytes <= 0 {
		o.UnauthenticatedBodyBytes = DefaultUnauthenticatedBodyBytes
	}
	o.UnauthenticatedBodyBytes = min(o.UnauthenticatedBodyBytes, o.MaxBodyBytes)
	if o.MaxBodyBytesInFlight <= 0 {
		o.MaxBodyBytesInFlight = 4 * o.MaxBodyBytes
	}
	// A body of the largest size must always fit, or it would wait forever.
	o.MaxBodyBytesInFlight = max(o.MaxBodyBytesInFlight, o.MaxBodyBytes)
	if o.Guard == nil {
		o.Guard = authguard.New(authguard.Options{Surface: "api", Log: o.Logger, Now: o.Now})
	}
	a := &API{Options: o, log: o.Logger, bodies: newBodyBudget(o.MaxBodyBytesInFlight), apps: map[string]config.Application{}, tokens: map[string]tokenInfo{}}
	a.creates = newCreateGroup(o.Store)
	for _, app := range o.Apps {
		a.apps[app.Code] = app
		a.tokens[app.ServerToken] = tokenInfo{app: app.Code, server: true}
		if app.DeviceToken != "" {
			a.tokens[app.DeviceToken] = tokenInfo{app: app.Code}
		}
		if app.LegacyUserBinding && o.Logger != nil {
			// Said once at start: a weaker setting should not go unnoticed.
			o.Logger.Warn("legacy_user_binding is on: device-token and tokenless registerDevice calls may bind phones to any userId",
				zap.String("application", app.Code))
		}
	}
	a.methods = map[string]method{
		"registerDevice":   {deviceToken, a.registerDevice},
		"unregisterDevice": {deviceToken, a.unregisterDevice},
		"setTags":          {deviceToken, a.setTags},
		"getTags":          {deviceToken, a.getTags},
		"createMessage":    {serverToken, a.createMessage},
		"createSMSMessage": {serverToken, a.createMessage},
		"deleteMessage":    {serverToken, a.deleteMessage},
		"getMsgStats":      {serverToken, a.getMsgStats},
		"getResults":       {serverToken, a.getResults},
		"createPreset":     {serverToken, a.createPreset},
		"getPreset":        {serverToken, a.getPreset},
		"listPresets":      {serverToken, a.listPresets},
		"deletePreset":     {serverToken, a.deletePreset},
	}
	return a
}

// Register mounts the API's routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	// withAuthHeader: device handlers weigh the caller's token (caller.go).
	mux.Handle("POST /json/1.3/{method}", withAuthHeader(a.serveJSON))
	mux.Handle("GET /api/v1/messages", a.native(a.listMessages))
	mux.Handle("GET /api/v1/messages/{code}", a.native(a.getMessage))
	mux.Handle("GET /api/v1/sms", a.native(a.listSMSByPhone))
	mux.Handle("POST /api/v2/statistics/messages/totalsByIntervals", a.v2Handler(a.totalsByIntervals))
	mux.Handle("POST /api/v2/messages:list", a.v2Handler(a.messagesList))
	mux.Handle("POST /api/v1/optouts", a.native(a.addOptOut))
	mux.Handle("GET /api/v1/optouts", a.native(a.listOptOuts))
	mux.Handle("DELETE /api/v1/optouts/{phone}", a.native(a.removeOptOut))
	mux.Handle("GET /api/v1/ratelimits", a.native(a.rateLimits))
	mux.Handle("GET /api/v1/costs", a.native(a.costs))
	mux.Handle("GET /api/v1/quotas", a.native(a.quotas))       // quota.go
	mux.Handle("GET /api/v1/inbound", a.native(a.listInbound)) // inbound_api.go
}

// common holds the fields every Pushwoosh request may carry.
type common struct {
	Application string `json:"application"`
	Auth        string `json:"auth"`
}

func (a *API) serveJSON(w http.ResponseWriter, r *http.Request) {
	m, ok := a.methods[r.PathValue("method")]
	if !ok {
		writeEnvelope(w, http.StatusNotFound, http.StatusNotFound, "unknown method "+r.PathValue("method"), nil)
		return
	}
	// A source that keeps failing is refused before anything of its
	// request is looked at.
	if wait, throttled := a.Guard.Throttled(r); throttled {
		a.writeErr(w, r, throttledError(wait))
		return
	}
	// A token in the header is checked before a byte of the body is read:
	// a wrong one costs the server nothing but the headers.
	headerToken := tokenFromHeader(r.Header.Get("Authorization"))
	if headerToken != "" {
		if _, err := a.checkToken(r, headerToken, m.access); err != nil {
			a.writeErr(w, r, err)
			return
		}
	}
	raw, release, err := a.readRequest(r, headerToken != "", m.access)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	// The body's bytes stay accounted for until the handler is done with
	// them (raw points into them).
	defer release()
	app, err := a.authorize(r, raw, m.access)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	if err := a.guardRate(r.Context(), app, r.PathValue("method")); err != nil {
		a.writeErr(w, r, err)
		return
	}
	resp, err := m.handler(r.Context(), app, raw)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeOK(w, resp)
}

// readRequest reads the body (readBody: within the size limits, which
// depend on whether a header token authenticated the caller) and returns
// the inner "request" object, and the function that releases the body's
// bytes from the in-flight budget once the request is done.
func (a *API) readRequest(r *http.Request, authed bool, need access) (json.RawMessage, func(), error) {
	body, release, err := a.readBody(r, authed, need)
	if err != nil {
		return nil, nil, err
	}
	raw, err := decodeEnvelope(body)
	if err != nil {
		release()
		return nil, nil, err
	}
	return raw, release, nil
}

// decodeEnvelope returns the "request" object of a Pushwoosh body.
func decodeEnvelope(body []byte) (json.RawMessage, error) {
	var env struct {
		Request json.RawMessage `json:"request"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Not an object at the top: say what is wanted, not which Go
			// type failed to decode.
			return nil, httpError(http.StatusBadRequest, `malformed request: body must be {"request": {...}}, got %s`, te.Value)
		}
		return nil, httpError(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, httpError(http.StatusBadRequest, "malformed JSON: trailing data after the request object")
	}
	if len(env.Request) == 0 || env.Request[0] != '{' {
		return nil, httpError(http.StatusBadRequest, `malformed request: body must be {"request": {...}}`)
	}
	return env.Request, nil
}

// checkToken checks that token is some application's and strong enough
// for need, before the request names its application: 401 for an
// unknown token, 403 for a device token where the server token is
// needed. Each refusal is counted and logged (Guard).
func (a *API) checkToken(r *http.Request, token string, need access) (tokenInfo, error) {
	ti, ok := a.tokens[token]
	if !ok {
		a.Guard.Fail(r, authguard.Unknown, "")
		return tokenInfo{}, httpError(http.StatusUnauthorized, "invalid auth token")
	}
	if need == serverToken && !ti.server {
		a.Guard.Fail(r, authguard.TooWeak, ti.app)
		return tokenInfo{}, httpError(http.StatusForbidden, "this method needs the application's server token, not its device token")
	}
	return ti, nil
}

// authorize finds the application the request acts on and checks the
// caller's token against it: 401 for a missing or unknown token, 403 for a
// token of another application or of too little power. Each refusal is
// counted, logged and charged to the caller's failure budget (Guard).
func (a *API) authorize(r *http.Request, raw json.RawMessage, need access) (string, error) {
	var c common
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", argErrorFromJSON(err, "")
	}
	token := c.Auth
	if h := r.Header.Get("Authorization"); token == "" && h != "" {
		token = tokenFromHeader(h)
	}
	appCode := c.Application
	app, known := a.apps[appCode]
	// The log names the application only when it is one: the code is the
	// caller's, unchecked text.
	logApp := ""
	if known {
		logApp = appCode
	}
	if token == "" {
		if need == deviceToken && known && app.OpenDevices {
			return appCode, nil
		}
		a.Guard.Fail(r, authguard.Missing, logApp)
		// Without a token nobody learns which application codes exist.
		return "", httpError(http.StatusUnauthorized, "missing auth token (request.auth or Authorization: Token ...)")
	}
	ti, ok := a.tokens[token]
	if !ok {
		a.Guard.Fail(r, authguard.Unknown, logApp)
		return "", httpError(http.StatusUnauthorized, "invalid auth token")
	}
	if appCode != "" && !known {
		return "", argError("application", "unknown application code %q", appCode)
	}
	if appCode == "" {
		if need == deviceToken {
			return "", argError("application", "required")
		}
		appCode = ti.app
	}
	if ti.app != appCode {
		a.Guard.Fail(r, authguard.WrongApp, appCode)
		return "", httpError(http.StatusForbidden, "auth token does not grant access to application %s", appCode)
	}
	if need == serverToken && !ti.server {
		a.Guard.Fail(r, authguard.TooWeak, appCode)
		return "", httpError(http.StatusForbidden, "this method needs the application's server token, not its device token")
	}
	return appCode, nil
}

// appFromHeader authenticates a native API call: Authorization: Token
// <server token>. Each refusal is counted and logged (Guard).
func (a *API) appFromHeader(r *http.Request) (string, error) {
	token := tokenFromHeader(r.Header.Get("Authorization"))
	if token == "" {
		a.Guard.Fail(r, authguard.Missing, "")
		return "", httpError(http.StatusUnauthorized, "missing Authorization: Token header")
	}
	ti, ok := a.tokens[token]
	if !ok {
		a.Guard.Fail(r, authguard.Unknown, "")
		return "", httpError(http.StatusUnauthorized, "invalid auth token")
	}
	if !ti.server {
		a.Guard.Fail(r, authguard.TooWeak, ti.app)
		return "", httpError(http.StatusForbidden, "the native API needs the application's server token")
	}
	return ti.app, nil
}

func tokenFromHeader(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Token") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// decodeArgs decodes a method's request object into v, turning type
// mismatches into 210 errors that name the field.
func decodeArgs(raw json.RawMessage, v any, prefix string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return argErrorFromJSON(err, prefix)
	}
	return nil
}

func argErrorFromJSON(err error, prefix string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		switch {
		case prefix != "" && field != "":
			field = prefix + "." + field
		case prefix != "":
			field = prefix
		}
		if field == "" {
			field = "request"
		}
		return argError(field, "must be %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return httpError(http.StatusBadRequest, "malformed JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

func zapMethod(r *http.Request) zap.Field { return zap.String("path", r.URL.Path) }
func zapErr(err error) zap.Field          { return zap.Error(err) }
