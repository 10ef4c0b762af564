package history

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The session: a cookie that names the signed-in application and when the
// session ends, signed with HMAC-SHA256 under the fleet's history key
// (store.HistoryKey: one key in Redis, so every API pod accepts a cookie
// any of them set). Nothing is kept on the server: signing out clears the
// cookie, and a copied cookie stays good until it expires (at most
// SessionTTL), which docs/security.md says.
//
// Forms carry a CSRF token bound to the session (an HMAC of the cookie's
// value), checked on every POST; the cookie is SameSite=Strict as well. The
// sign-in form, before any session exists, is bound the same way to a
// short-lived random pre-session cookie, so another site cannot sign a
// browser in to its own application (login CSRF).

const (
	sessionCookie = "sf_history"
	preCookie     = "sf_history_pre"
	cookiePath    = "/history/"
	// DefaultSessionTTL is how long a sign-in lasts.
	DefaultSessionTTL = 8 * time.Hour
	// preTTL bounds how long a sign-in form stays usable.
	preTTL = time.Hour
)

// Why a cookie was refused.
var (
	errNoSession = errors.New("not signed in")
	errForged    = errors.New("the session cookie is not one this fleet signed")
	errExpired   = errors.New("the session has expired: sign in again")
)

// signer signs and checks sessions and CSRF tokens under one key.
type signer struct{ key []byte }

func (s signer) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session returns the cookie value for app, valid until exp.
func (s signer) session(app string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return app + "|" + e + "|" + s.mac("session", app, e)
}

// open checks a cookie value and returns its application.
func (s signer) open(value string, now time.Time) (string, error) {
	app, rest, ok1 := strings.Cut(value, "|")
	e, sig, ok2 := strings.Cut(rest, "|")
	if !ok1 || !ok2 || !hmac.Equal([]byte(sig), []byte(s.mac("session", app, e))) {
		return "", errForged
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return "", errForged
	}
	if !now.Before(time.Unix(exp, 0)) {
		return "", errExpired
	}
	return app, nil
}

// csrf is the token the forms of a session (or of a pre-session, on the
// sign-in page) carry.
func (s signer) csrf(cookieValue string) string { return s.mac("csrf", cookieValue) }

// checkCSRF reports whether token is the one for cookieValue.
func (s signer) checkCSRF(cookieValue, token string) bool {
	return cookieValue != "" && token != "" && hmac.Equal([]byte(token), []byte(s.csrf(cookieValue)))
}

// newNonce is the random value of a pre-session cookie.
func newNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// cookie is one of ours: HttpOnly, SameSite=Strict, under /history/, and
// Secure when the request came over https.
func cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: cookiePath, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1 // delete
	}
	return c
}
