package history

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// maxFormBytes bounds a sign-in or sign-out form.
const maxFormBytes = 4 << 10

// signInData is the sign-in form.
type signInData struct {
	CSRF  string
	Next  string
	Error string
}

// signInPage answers a request without a valid session: the sign-in form
// (200 at /history/ for a browser that simply has no session yet, 401
// otherwise), bound to a fresh pre-session cookie against login CSRF.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request, why error) {
	status, msg := http.StatusUnauthorized, ""
	var ae *authError
	switch {
	case errors.As(why, &ae):
		status, msg = ae.status, ae.msg
	case errors.Is(why, errNoSession):
		if r.URL.Path == cookiePath && r.URL.RawQuery == "" {
			status = http.StatusOK
		}
	case why != nil:
		s.fail(w, r, nil, why)
		return
	}
	s.renderSignIn(w, r, status, msg, nextOf(r.URL.RequestURI()))
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	sg, err := s.signer(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	nonce, err := newNonce()
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, cookie(r, preCookie, nonce, preTTL))
	s.render(w, r, status, "signin", "Sign in", nil, signInData{CSRF: sg.csrf("pre|" + nonce), Next: next, Error: msg})
}

// nextOf keeps a post-sign-in destination only if it is one of our pages
// (never another site: an open redirect).
func nextOf(uri string) string {
	if !strings.HasPrefix(uri, cookiePath) || strings.HasPrefix(uri, "//") || strings.ContainsAny(uri, "\\\r\n") {
		return cookiePath
	}
	return uri
}

// signIn checks the form's CSRF token and the server token, then sets the
// session cookie and goes back where the person was headed.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if s.throttled(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, nil, pageError(http.StatusBadRequest, "", "The form could not be read."))
		return
	}
	sg, err := s.signer(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	next := nextOf(r.PostFormValue("next"))
	pre, _ := r.Cookie(preCookie)
	if pre == nil || !sg.checkCSRF("pre|"+pre.Value, r.PostFormValue("csrf")) {
		s.renderSignIn(w, r, http.StatusForbidden, "The sign-in form had expired or came from another page: sign in again.", next)
		return
	}
	app, err := s.checkToken(r, strings.TrimSpace(r.PostFormValue("token")))
	if err != nil {
		var ae *authError
		errors.As(err, &ae)
		s.renderSignIn(w, r, ae.status, ae.msg, next)
		return
	}
	http.SetCookie(w, cookie(r, sessionCookie, sg.session(app, s.o.Now().Add(s.o.SessionTTL)), s.o.SessionTTL))
	http.SetCookie(w, cookie(r, preCookie, "", 0))
	s.log.Info("history sign-in", zap.String("application", app))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut clears the session cookie (with the session's CSRF token).
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	v, err := s.authenticate(r)
	if err != nil {
		// No valid session: there is nothing to end; the cookie goes anyway.
		http.SetCookie(w, cookie(r, sessionCookie, "", 0))
		http.Redirect(w, r, cookiePath, http.StatusSeeOther)
		return
	}
	if v.session != "" {
		sg, err := s.signer(r.Context())
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		if !sg.checkCSRF(v.session, r.PostFormValue("csrf")) {
			s.fail(w, r, v, pageError(http.StatusForbidden, "csrf", "The form's security token is missing or wrong: reload the page and try again."))
			return
		}
	}
	http.SetCookie(w, cookie(r, sessionCookie, "", 0))
	s.log.Info("history sign-out", zap.String("application", v.App))
	http.Redirect(w, r, cookiePath, http.StatusSeeOther)
}
