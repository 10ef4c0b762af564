package admin

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/smsfleet/smsfleet/internal/authguard"
)

// bearer is the token of an Authorization header, "Bearer <t>" or
// "Token <t>" ("" for anything else).
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Token")) {
		return ""
	}
	return strings.TrimSpace(tok)
}

// equal compares a presented token with the expected one in constant time
// (for tokens of the same length; the length itself is not secret).
func equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// operator authenticates the operator before anything of the request is
// read: 503 when no admin token is configured (the API is off, never
// open), 429 for a source that spent its failure budget, 401 for a
// missing or wrong token.
func (a *API) operator(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.o.Token == "" {
			writeError(w, http.StatusServiceUnavailable, "", "the operator API is off: set SMSFLEET_ADMIN_TOKEN")
			return
		}
		if a.refusedEarly(w, r) {
			return
		}
		tok := bearer(r.Header.Get("Authorization"))
		if !equal(tok, a.o.Token) {
			reason := authguard.Unknown
			if tok == "" {
				reason = authguard.Missing
			}
			a.o.Guard.Fail(r, reason, "")
			w.Header().Set("WWW-Authenticate", `Bearer realm="smsfleet-admin"`)
			writeError(w, http.StatusUnauthorized, "Authorization", "a valid admin token is required: Authorization: Bearer <SMSFLEET_ADMIN_TOKEN>")
			return
		}
		next(w, r)
	})
}

// refusedEarly answers 429 to a source that spent its failure budget.
func (a *API) refusedEarly(w http.ResponseWriter, r *http.Request) bool {
	wait, throttled := a.o.Guard.Throttled(r)
	if !throttled {
		return false
	}
	w.Header().Set("Retry-After", retryAfter(wait))
	writeError(w, http.StatusTooManyRequests, "", "too many failed authentications from this address")
	return true
}

// application authenticates an application by its server token (the
// native API's Authorization: Token <server token>) and passes its code.
func (a *API) application(next func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.refusedEarly(w, r) {
			return
		}
		tok := bearer(r.Header.Get("Authorization"))
		for _, app := range a.o.Apps {
			if equal(tok, app.ServerToken) {
				next(w, r, app.Code)
				return
			}
		}
		reason := authguard.Unknown
		if tok == "" {
			reason = authguard.Missing
		}
		a.o.Guard.Fail(r, reason, "")
		writeError(w, http.StatusUnauthorized, "Authorization", "invalid auth token: Authorization: Token <server token>")
	})
}
