package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/config"
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
	Rates  *RateStatus
	Logger *zap.Logger
	// Now is the clock; tests inject one to schedule a few seconds ahead.
	Now func() time.Time
}

// API serves the Pushwoosh-compatible and native endpoints.
type API struct {
	Options
	log     *zap.Logger
	apps    map[string]config.Application
	tokens  map[string]tokenInfo
	methods map[string]method
	// refusals rate-limits the log lines of refused user bindings.
	refusals refusalLog
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
	a := &API{Options: o, log: o.Logger, apps: map[string]config.Application{}, tokens: map[string]tokenInfo{}}
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
	mux.Handle("POST /api/v1/optouts", a.native(a.addOptOut))
	mux.Handle("GET /api/v1/optouts", a.native(a.listOptOuts))
	mux.Handle("DELETE /api/v1/optouts/{phone}", a.native(a.removeOptOut))
	mux.Handle("GET /api/v1/ratelimits", a.native(a.rateLimits))
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
	raw, err := a.readRequest(w, r)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	app, err := a.authorize(r, raw, m.access)
	if err != nil {
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

// readRequest reads the body within the size limit and returns the inner
// "request" object.
func (a *API) readRequest(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httpError(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", a.MaxBodyBytes)
		}
		return nil, httpError(http.StatusBadRequest, "reading request body: %v", err)
	}
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

// authorize finds the application the request acts on and checks the
// caller's token against it: 401 for a missing or unknown token, 403 for a
// token of another application or of too little power.
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
	if token == "" {
		if need == deviceToken && known && app.OpenDevices {
			return appCode, nil
		}
		// Without a token nobody learns which application codes exist.
		return "", httpError(http.StatusUnauthorized, "missing auth token (request.auth or Authorization: Token ...)")
	}
	ti, ok := a.tokens[token]
	if !ok {
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
		return "", httpError(http.StatusForbidden, "auth token does not grant access to application %s", appCode)
	}
	if need == serverToken && !ti.server {
		return "", httpError(http.StatusForbidden, "this method needs the application's server token, not its device token")
	}
	return appCode, nil
}

// appFromHeader authenticates a native API call: Authorization: Token
// <server token>.
func (a *API) appFromHeader(r *http.Request) (string, error) {
	token := tokenFromHeader(r.Header.Get("Authorization"))
	if token == "" {
		return "", httpError(http.StatusUnauthorized, "missing Authorization: Token header")
	}
	ti, ok := a.tokens[token]
	if !ok {
		return "", httpError(http.StatusUnauthorized, "invalid auth token")
	}
	if !ti.server {
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
