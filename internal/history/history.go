// Package history serves the Message History pages at /history/ on the API
// role (issue 16): an application's messages with their counts, delivery
// rate and filters, one message with its text, schedule, hourly chart and
// recipients, one SMS's timeline, every SMS to a phone, and CSV exports.
//
// Plain server-rendered HTML (html/template, embedded), no script, nothing
// fetched from elsewhere. A person signs in with the application's server
// token (a signed session cookie, session.go); a script sends
// Authorization: Token <server token> instead. Each application sees only
// its own messages: another's is a 404, as if it did not exist.
package history

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Options configure the history pages.
type Options struct {
	Store *store.Store
	Apps  config.Applications
	// DefaultRegion reads phone numbers without a + (SMSFLEET_DEFAULT_REGION),
	// as the intake does.
	DefaultRegion string
	// Guard counts and throttles failed sign-ins and tokens: the intake
	// API's, so the pages and the API share one budget per source.
	Guard *authguard.Guard
	// Currency is the configured prices' currency ("" when none: costs are
	// unknown and the pages show none).
	Currency string
	// SessionTTL is how long a sign-in lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	Logger     *zap.Logger
	// Now is the clock (nil: time.Now); tests inject one.
	Now func() time.Time
	// Sender is the sender an application's SMS go from when their
	// message names none (its policy's, else the worker's default): which
	// SMS a reply answers (replies.go). Nil: replies answer only SMS whose
	// message names the sender they were sent to.
	Sender func(app string) string
}

// Server serves the pages.
type Server struct {
	o      Options
	log    *zap.Logger
	tokens map[string]tokenInfo
	apps   map[string]bool
	// keyMu guards sign, read from Redis (store.HistoryKey) at keyAt.
	keyMu sync.Mutex
	sign  *signer
	keyAt time.Time
	// maxScan bounds the messages one list request reads (defaultMaxScan;
	// tests lower it).
	maxScan int
}

type tokenInfo struct {
	app    string
	server bool
}

// New returns the pages' server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Guard == nil {
		o.Guard = authguard.New(authguard.Options{Surface: "api", Log: o.Logger, Now: o.Now})
	}
	s := &Server{o: o, log: o.Logger, tokens: map[string]tokenInfo{}, apps: map[string]bool{}, maxScan: defaultMaxScan}
	for _, a := range o.Apps {
		s.apps[a.Code] = true
		s.tokens[a.ServerToken] = tokenInfo{app: a.Code, server: true}
		if a.DeviceToken != "" {
			s.tokens[a.DeviceToken] = tokenInfo{app: a.Code}
		}
	}
	return s
}

// ExportPrefix is where the CSV exports are: a large export outlasts the
// request deadline (SMSFLEET_REQUEST_TIMEOUT), so the fleet exempts this
// prefix from it; the listener's write timeout still bounds it.
const ExportPrefix = "/history/export/"

// Register mounts the pages under /history/.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("GET /history/{$}", s.page(s.home))
	mux.Handle("POST /history/signin", s.plain(s.signIn))
	mux.Handle("POST /history/signout", s.plain(s.signOut))
	mux.Handle("GET /history/messages/{code}", s.page(s.message))
	mux.Handle("GET "+ExportPrefix+"messages/{code}/recipients.csv", s.page(s.messageCSV))
	mux.Handle("GET /history/sms/{id}", s.page(s.smsPage))
	mux.Handle("GET "+ExportPrefix+"phone.csv", s.page(s.phoneCSV))
	mux.Handle("/history/", s.plain(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, nil, pageError(http.StatusNotFound, "", "There is no such page."))
	}))
}

// keyRefresh is how long a process keeps the session key before reading
// it again: if sf:hkey is deleted (or evicted), every pod moves to the one
// new key within this time, instead of old pods keeping the old key while
// new ones sign with another.
const keyRefresh = time.Minute

// signer returns the session signer, reading the fleet's key on first use
// and again once it is keyRefresh old.
func (s *Server) signer(ctx context.Context) (*signer, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	now := s.o.Now()
	if s.sign != nil && now.Sub(s.keyAt) < keyRefresh && !now.Before(s.keyAt) { // a clock set back reads again
		return s.sign, nil
	}
	key, err := s.o.Store.HistoryKey(ctx)
	if err != nil {
		return nil, err
	}
	s.sign, s.keyAt = &signer{key: key}, now
	return s.sign, nil
}

// viewer is who is looking: the application, and the session's cookie
// value ("" for a token in the Authorization header, whose requests need
// no CSRF token: a browser never adds that header on its own).
type viewer struct {
	App     string
	session string
	CSRF    string
}

// pageFunc renders one page for a signed-in viewer.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *viewer) error

// page wraps a pageFunc with what every page shares: security headers,
// the throttle, and authentication (a signed-out browser gets the
// sign-in form).
func (s *Server) page(h pageFunc) http.Handler {
	return s.plain(func(w http.ResponseWriter, r *http.Request) {
		if s.throttled(w, r) {
			return
		}
		v, err := s.authenticate(r)
		if err != nil {
			s.signInPage(w, r, err)
			return
		}
		if err := h(w, r, v); err != nil {
			s.fail(w, r, v, err)
		}
	})
}

// plain sets the headers every answer carries: no caching (pages hold
// phone numbers), nothing loaded from elsewhere, no framing, no referrer
// (URLs carry phone numbers).
func (s *Server) plain(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		h(w, r)
	})
}

func (s *Server) throttled(w http.ResponseWriter, r *http.Request) bool {
	wait, throttled := s.o.Guard.Throttled(r)
	if throttled {
		w.Header().Set("Retry-After", itoa(authguard.RetryAfterSeconds(wait)))
		s.fail(w, r, nil, pageError(http.StatusTooManyRequests, "", "Too many failed sign-ins from your address: try again later."))
	}
	return throttled
}

// authError is a refused credential and the status to answer it with.
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

// authenticate finds the viewer: a token in Authorization: Token ...,
// else the session cookie. Every refusal but a missing credential is
// counted by the guard.
func (s *Server) authenticate(r *http.Request) (*viewer, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		app, err := s.checkToken(r, tokenFromHeader(h))
		if err != nil {
			return nil, err
		}
		return &viewer{App: app}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	sg, err := s.signer(r.Context())
	if err != nil {
		return nil, err
	}
	app, err := sg.open(c.Value, s.o.Now())
	switch {
	case errors.Is(err, errForged):
		s.o.Guard.Fail(r, authguard.Unknown, "")
		return nil, &authError{http.StatusUnauthorized, errForged.Error() + ": sign in again."}
	case err != nil:
		return nil, &authError{http.StatusUnauthorized, err.Error()}
	case !s.apps[app]: // signed, but the application is gone from the configuration
		return nil, &authError{http.StatusUnauthorized, "this application is no longer configured: sign in again."}
	}
	return &viewer{App: app, session: c.Value, CSRF: sg.csrf(c.Value)}, nil
}

// checkToken returns the application whose server token token is.
func (s *Server) checkToken(r *http.Request, token string) (string, error) {
	if token == "" {
		s.o.Guard.Fail(r, authguard.Missing, "")
		return "", &authError{http.StatusUnauthorized, "Enter the application's server token."}
	}
	ti, ok := s.tokens[token]
	if !ok {
		s.o.Guard.Fail(r, authguard.Unknown, "")
		return "", &authError{http.StatusUnauthorized, "That is not the server token of any application."}
	}
	if !ti.server {
		s.o.Guard.Fail(r, authguard.TooWeak, ti.app)
		return "", &authError{http.StatusUnauthorized, "That is a device token: the history needs the application's server token."}
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
