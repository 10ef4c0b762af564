package history

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// The handler tests' world: two applications on a real redis-server, the
// shop's messages written through the store as the intake and the worker
// write them, and the per-phone index written with IndexPhones (the intake
// does not write it yet).

const (
	shopApp, shopToken, shopDevice = "SHOP1-00001", "shop-server-token", "shop-device-token"
	bankApp, bankToken             = "BANK1-00002", "bank-server-token"
	phoneA                         = "+4915112000001"
	phoneB                         = "+4915112000002"
	// Codes of the shop's fixed messages (sms.MessageCodeOf reads them).
	codeDelivered = "AAAA-00000000-00000001"
	codeFailed    = "AAAA-00000000-00000002"
	codeScheduled = "AAAA-00000000-00000003"
	codeBank      = "BBBB-00000000-00000001"
	// failError is a provider error that is also a spreadsheet formula.
	failError = `=HYPERLINK("http://evil","click")`
	// bulk is how many more transactional messages the shop has, for paging.
	bulk = 30
)

// day is the fixture's day d of May 2026, at noon UTC.
func day(d int) time.Time { return time.Date(2026, 5, d, 12, 0, 0, 0, time.UTC) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type world struct {
	t     *testing.T
	st    *store.Store
	clock *clock
	srv   *Server
	mux   *http.ServeMux
	// ids of the shop's SMS to phoneA: delivered, failed.
	deliveredID, failedID string
}

// newWorld builds the fixture; guard may be nil (no throttle).
func newWorld(t *testing.T, guard *authguard.Guard) *world {
	t.Helper()
	r := testenv.NewRedis(t)
	ctx := context.Background()
	w := &world{t: t, clock: &clock{t: day(1)}}
	w.st = store.New(r.Client(t), 30*24*time.Hour, store.WithClock(w.clock.Now))
	if err := w.st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	var apps config.Applications
	if err := apps.UnmarshalText([]byte(shopApp + ":" + shopToken + ":" + shopDevice + "," + bankApp + ":" + bankToken)); err != nil {
		t.Fatal(err)
	}
	w.srv = New(Options{Store: w.st, Apps: apps, DefaultRegion: "DE", Guard: guard, Now: w.clock.Now})
	w.mux = http.NewServeMux()
	w.srv.Register(w.mux)

	// Day 1: an OTP to phoneA, sent by sim-a after a transient failure at
	// sim-b, then delivered.
	w.deliveredID = w.direct(shopApp, codeDelivered, sms.OTP, `"Your code is 1234"`, phoneA, day(1))
	w.clock.Set(day(1).Add(time.Minute))
	w.begin(w.deliveredID)
	if _, err := w.st.MarkSent(ctx, w.deliveredID, store.Outcome{Provider: "sim-a", ProviderRef: "R1", Segments: 1, Encoding: "gsm7", Attempts: []store.Attempt{
		{Provider: "sim-b", At: day(1).Add(30 * time.Second), Outcome: "transient", Error: "503 from sim-b"},
		{Provider: "sim-a", At: day(1).Add(time.Minute), Outcome: "sent"},
	}}); err != nil {
		t.Fatal(err)
	}
	w.clock.Set(day(1).Add(2 * time.Minute))
	if _, err := w.st.ApplyReceipt(ctx, "sim-a", "R1", sms.Delivered, ""); err != nil {
		t.Fatal(err)
	}
	// Day 2: a marketing SMS to phoneA that failed for good, with an error
	// a spreadsheet would run.
	w.failedID = w.direct(shopApp, codeFailed, sms.Marketing, `{"en":"Sale now","de":"Jetzt Rabatt"}`, phoneA, day(2))
	w.begin(w.failedID)
	if _, err := w.st.MarkFailed(ctx, w.failedID, store.Outcome{Provider: "sim-a", Error: failError, Attempts: []store.Attempt{
		{Provider: "sim-a", At: day(2), Outcome: "permanent", Error: failError},
	}}); err != nil {
		t.Fatal(err)
	}
	// Day 3: a transactional message to two phones, scheduled.
	w.clock.Set(day(3))
	m := &store.Message{App: shopApp, Code: codeScheduled, Type: sms.Transactional, Content: `"See you tomorrow"`, Sender: "SHOP", SendAt: day(3).Add(time.Hour),
		Validity: time.Hour, ChunkSize: 10, Timezone: "Europe/Berlin"}
	if _, _, err := w.st.CreateMessage(ctx, m, []store.Audience{{Zone: "Europe/Berlin", SendAt: day(3).Add(time.Hour), Phones: []string{phoneA, phoneB}}}); err != nil {
		t.Fatal(err)
	}
	// Day 4: bulk transactional messages to phoneB, one a minute (queued).
	for i := range bulk {
		w.direct(shopApp, fmt.Sprintf("CCCC-00000000-%08d", i), sms.Transactional, fmt.Sprintf(`"bulk %d"`, i), phoneB, day(4).Add(time.Duration(i)*time.Minute))
	}
	// The bank sent phoneA something too: the shop must never see it.
	w.direct(bankApp, codeBank, sms.OTP, `"Bank code 9999"`, phoneA, day(2))
	w.clock.Set(day(5))

	// The per-phone index, as the intake will write it.
	idx := func(app, code, phone string, at time.Time) store.PhoneEntry {
		return store.PhoneEntry{Phone: phone, ID: storetest.SMSID(t, w.st, code, phone), At: at}
	}
	if err := w.st.IndexPhones(ctx, shopApp, []store.PhoneEntry{
		idx(shopApp, codeDelivered, phoneA, day(1)), idx(shopApp, codeFailed, phoneA, day(2)), idx(shopApp, codeScheduled, phoneA, day(3)),
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.st.IndexPhones(ctx, bankApp, []store.PhoneEntry{idx(bankApp, codeBank, phoneA, day(2))}); err != nil {
		t.Fatal(err)
	}
	return w
}

// direct writes a one-recipient message created at at and returns its SMS id.
func (w *world) direct(app, code string, typ sms.Type, content, phone string, at time.Time) string {
	w.t.Helper()
	w.clock.Set(at)
	m := &store.Message{App: app, Code: code, Type: typ, Content: content, SendAt: at, Validity: time.Hour, Direct: true, To: phone, ChunkSize: 10}
	if _, created, err := w.st.CreateMessage(context.Background(), m, []store.Audience{{Zone: "UTC", SendAt: at, Phones: []string{phone}}}); err != nil || !created {
		w.t.Fatalf("create %s: %v %v", code, created, err)
	}
	return storetest.SMSID(w.t, w.st, code, phone)
}

// begin takes an SMS for sending, as the worker does.
func (w *world) begin(id string) {
	w.t.Helper()
	ctx := context.Background()
	l, ok, err := w.st.LoadSMS(ctx, id)
	if err != nil || !ok {
		w.t.Fatalf("load %s: %v %v", id, ok, err)
	}
	if _, _, ok, err := w.st.Begin(ctx, id, l); err != nil || !ok {
		w.t.Fatalf("begin %s: %v %v", id, ok, err)
	}
}

// req is one request to the pages.
type req struct {
	method, path string
	form         url.Values
	cookie       string // the session cookie's value
	pre          string // the pre-session cookie's value
	auth         string // the Authorization header
	tls          bool
}

type resp struct {
	*httptest.ResponseRecorder
	body string
}

func (w *world) do(rq req) resp {
	w.t.Helper()
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	var hr *http.Request
	if rq.form != nil {
		hr = httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.form.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		hr = httptest.NewRequest(rq.method, rq.path, nil)
	}
	hr.TLS = nil
	if rq.tls {
		hr.TLS = &tls.ConnectionState{}
	}
	if rq.cookie != "" {
		hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: rq.cookie})
	}
	if rq.pre != "" {
		hr.AddCookie(&http.Cookie{Name: preCookie, Value: rq.pre})
	}
	if rq.auth != "" {
		hr.Header.Set("Authorization", rq.auth)
	}
	rec := httptest.NewRecorder()
	w.mux.ServeHTTP(rec, hr)
	return resp{ResponseRecorder: rec, body: rec.Body.String()}
}

// cookieOf returns the Set-Cookie of name in r (nil if none).
func cookieOf(r resp, name string) *http.Cookie {
	for _, c := range r.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn goes through the sign-in form with token and returns the session
// cookie's value.
func (w *world) signIn(token string) string {
	w.t.Helper()
	page := w.do(req{path: "/history/"})
	pre := cookieOf(page, preCookie)
	m := csrfField.FindStringSubmatch(page.body)
	if pre == nil || m == nil {
		w.t.Fatalf("sign-in page without its pre-session cookie or CSRF field: %d %s", page.Code, page.body)
	}
	r := w.do(req{method: http.MethodPost, path: "/history/signin", pre: pre.Value, form: url.Values{"token": {token}, "csrf": {m[1]}}})
	c := cookieOf(r, sessionCookie)
	if r.Code != http.StatusSeeOther || c == nil {
		w.t.Fatalf("sign in: %d %s", r.Code, r.body)
	}
	return c.Value
}
