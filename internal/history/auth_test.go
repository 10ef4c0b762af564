package history

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/authguard"
)

// TestHistorySignIn drives every way in and every refusal: the sign-in
// form with the right, a wrong and a device token; its CSRF token missing
// or wrong; the session cookie missing, forged, expired, or another
// application's looking at the shop's message; the Authorization header;
// and signing out with and without the session's CSRF token.
func TestHistorySignIn(t *testing.T) {
	w := newWorld(t, nil)
	page := w.do(req{path: "/history/"})
	pre := cookieOf(page, preCookie)
	csrf := csrfField.FindStringSubmatch(page.body)[1]
	shop := w.signIn(shopToken)
	bank := w.signIn(bankToken)
	forged := strings.Replace(shop, shopApp, bankApp, 1)
	msgPath := "/history/messages/" + codeDelivered

	for _, tc := range []struct {
		name string
		rq   req
		want int
		body string // a part of the page it must show
	}{
		{"no session: the sign-in form", req{path: "/history/"}, http.StatusOK, `name="token"`},
		{"no session on a deeper page: 401 with the form", req{path: msgPath}, http.StatusUnauthorized, `name="next" value="/history/messages/` + codeDelivered},
		{"right token", req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {shopToken}, "csrf": {csrf}}}, http.StatusSeeOther, ""},
		{"wrong token: 401 page", req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {"guess"}, "csrf": {csrf}}}, http.StatusUnauthorized, "not the server token of any application"},
		{"device token: 401 page", req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {shopDevice}, "csrf": {csrf}}}, http.StatusUnauthorized, "device token"},
		{"empty token: 401 page", req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {""}, "csrf": {csrf}}}, http.StatusUnauthorized, "Enter the application"},
		{"sign-in without a CSRF token: 403", req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {shopToken}}}, http.StatusForbidden, "sign in again"},
		{"sign-in with a wrong CSRF token: 403", req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {shopToken}, "csrf": {"x" + csrf}}}, http.StatusForbidden, "sign in again"},
		{"sign-in without the pre-session cookie: 403", req{method: http.MethodPost, path: "/history/signin", form: url.Values{"token": {shopToken}, "csrf": {csrf}}}, http.StatusForbidden, "sign in again"},
		{"session cookie: the shop's message", req{path: msgPath, cookie: shop}, http.StatusOK, "Your code is 1234"},
		{"forged cookie: 401", req{path: msgPath, cookie: forged}, http.StatusUnauthorized, "not one this fleet signed"},
		{"garbage cookie: 401", req{path: "/history/", cookie: "garbage"}, http.StatusUnauthorized, "not one this fleet signed"},
		{"another application's message: 404", req{path: msgPath, cookie: bank}, http.StatusNotFound, "no message"},
		{"another application's SMS: 404", req{path: "/history/sms/" + w.deliveredID, cookie: bank}, http.StatusNotFound, "no SMS"},
		{"another application's CSV: 404", req{path: "/history/export/messages/" + codeDelivered + "/recipients.csv", cookie: bank}, http.StatusNotFound, "no message"},
		{"token header", req{path: msgPath, auth: "Token " + shopToken}, http.StatusOK, "Your code is 1234"},
		{"wrong token header: 401", req{path: msgPath, auth: "Token guess"}, http.StatusUnauthorized, "not the server token"},
		{"device token header: 401", req{path: msgPath, auth: "Token " + shopDevice}, http.StatusUnauthorized, "device token"},
		{"another application's token header: 404", req{path: msgPath, auth: "Token " + bankToken}, http.StatusNotFound, "no message"},
		{"sign-out without the CSRF token: 403", req{method: http.MethodPost, path: "/history/signout", cookie: shop, form: url.Values{}}, http.StatusForbidden, "csrf"},
		{"sign-out with a wrong CSRF token: 403", req{method: http.MethodPost, path: "/history/signout", cookie: shop, form: url.Values{"csrf": {csrf}}}, http.StatusForbidden, "csrf"},
		{"no such page: 404", req{path: "/history/nope", cookie: shop}, http.StatusNotFound, "no such page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(tc.rq)
			if r.Code != tc.want || !strings.Contains(r.body, tc.body) {
				t.Fatalf("%s %s = %d, want %d with %q:\n%.2000s", tc.rq.method, tc.rq.path, r.Code, tc.want, tc.body, r.body)
			}
			for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Cache-Control"} {
				if r.Header().Get(h) == "" {
					t.Errorf("no %s header", h)
				}
			}
		})
	}

	t.Run("expired session: 401", func(t *testing.T) {
		w.clock.Set(w.clock.Now().Add(DefaultSessionTTL))
		defer w.clock.Set(w.clock.Now().Add(-DefaultSessionTTL))
		if r := w.do(req{path: msgPath, cookie: shop}); r.Code != http.StatusUnauthorized || !strings.Contains(r.body, "expired") {
			t.Fatalf("expired session: %d %.500s", r.Code, r.body)
		}
	})

	t.Run("the session cookie's attributes", func(t *testing.T) {
		for _, overTLS := range []bool{false, true} {
			page := w.do(req{path: "/history/", tls: overTLS})
			pre := cookieOf(page, preCookie)
			csrf := csrfField.FindStringSubmatch(page.body)[1]
			r := w.do(req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {shopToken}, "csrf": {csrf}, "next": {"https://evil.example/"}}, tls: overTLS})
			c := cookieOf(r, sessionCookie)
			if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/history/" || c.Secure != overTLS ||
				c.MaxAge != int(DefaultSessionTTL/time.Second) {
				t.Errorf("over TLS %v: cookie %+v", overTLS, c)
			}
			if pre.Secure != overTLS || !pre.HttpOnly || pre.SameSite != http.SameSiteStrictMode {
				t.Errorf("over TLS %v: pre-session cookie %+v", overTLS, pre)
			}
			if loc := r.Header().Get("Location"); loc != "/history/" {
				t.Errorf("sign-in went on to %q: only our own pages may follow it", loc)
			}
		}
	})

	t.Run("a new fleet key ends every session within keyRefresh", func(t *testing.T) {
		if err := w.st.Redis().Del(context.Background(), "sf:hkey").Err(); err != nil {
			t.Fatal(err)
		}
		if r := w.do(req{path: msgPath, cookie: shop}); r.Code != http.StatusOK {
			t.Fatalf("within keyRefresh the process keeps its key: %d", r.Code)
		}
		w.clock.Set(w.clock.Now().Add(keyRefresh))
		if r := w.do(req{path: msgPath, cookie: shop}); r.Code != http.StatusUnauthorized {
			t.Fatalf("after keyRefresh, a cookie of the old key: %d, want 401", r.Code)
		}
		shop = w.signIn(shopToken)
		bank = w.signIn(bankToken)
	})

	t.Run("sign out", func(t *testing.T) {
		page := w.do(req{path: "/history/", cookie: shop})
		m := csrfField.FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("no sign-out form: %.1000s", page.body)
		}
		r := w.do(req{method: http.MethodPost, path: "/history/signout", cookie: shop, form: url.Values{"csrf": {m[1]}}})
		if c := cookieOf(r, sessionCookie); r.Code != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
			t.Fatalf("sign out: %d cookie %+v", r.Code, c)
		}
		// A session's CSRF token is its own: the bank's does not sign the shop out.
		bankPage := w.do(req{path: "/history/", cookie: bank})
		bankCSRF := csrfField.FindStringSubmatch(bankPage.body)[1]
		if r := w.do(req{method: http.MethodPost, path: "/history/signout", cookie: shop, form: url.Values{"csrf": {bankCSRF}}}); r.Code != http.StatusForbidden {
			t.Fatalf("another session's CSRF token signed out: %d", r.Code)
		}
	})
}

// TestHistoryGuard: wrong tokens at the pages are charged to the same
// guard as the API's; a source that spent its budget gets 429 before its
// token is looked at, even the right one.
func TestHistoryGuard(t *testing.T) {
	guard := authguard.New(authguard.Options{Surface: "api", Failures: 2, Window: time.Hour})
	w := newWorld(t, guard)
	for i := range 2 {
		if r := w.do(req{path: "/history/", auth: "Token guess"}); r.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, r.Code)
		}
	}
	r := w.do(req{path: "/history/", auth: "Token " + shopToken})
	if r.Code != http.StatusTooManyRequests || r.Header().Get("Retry-After") == "" {
		t.Fatalf("after the budget: %d (Retry-After %q), want 429", r.Code, r.Header().Get("Retry-After"))
	}
}
