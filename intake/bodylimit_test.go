package intake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// countingBody is a request body that counts the bytes the server read.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return nil }

// bigAPI is the intake with production-sized limits (16 MiB bodies, 64
// KiB before authentication) over a fresh redis-server.
func bigAPI(t *testing.T, inFlight int64) (*API, *http.ServeMux) {
	t.Helper()
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := NewAPI(Options{
		Store: st,
		Apps: config.Applications{
			{Code: shop, ServerToken: shopToken, DeviceToken: shopDev},
			{Code: open, ServerToken: openToken, OpenDevices: true},
		},
		MaxBodyBytes: 16 << 20, UnauthenticatedBodyBytes: 64 << 10, MaxBodyBytesInFlight: inFlight,
		MaxRecipients: 5, DefaultRegion: "DE", ChunkSize: 2,
		Policy: func(string) config.Resolved { return defaults() }, DeliveryWait: time.Hour,
		CallbackSecret: func(string) string { return "" }, Logger: zap.NewNop(), Now: func() time.Time { return testNow },
	})
	// The device the getTags calls read.
	if _, err := a.registerDevice(context.Background(), shop, json.RawMessage(`{"hwid":"+4915112000001","device_type":18}`)); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	return a, mux
}

// padded is a Pushwoosh body of size bytes: the request fields given, in
// order, then (or, with padFirst, before them) a long "pad".
func padded(fields string, size int, padFirst bool) string {
	build := func(n int) string {
		pad := `"pad":"` + strings.Repeat("x", n) + `"`
		switch {
		case fields == "":
			return `{"request":{` + pad + `}}`
		case padFirst:
			return `{"request":{` + pad + `,` + fields + `}}`
		}
		return `{"request":{` + fields + `,` + pad + `}}`
	}
	return build(max(size-len(build(0)), 0))
}

type sent struct {
	status int
	env    envelope
	read   int64
	header http.Header
}

// send serves one request through mux with a counting body; chunked
// hides the length (Content-Length -1).
func send(t *testing.T, mux http.Handler, ctx context.Context, method, header, body string, chunked bool) sent {
	t.Helper()
	cb := &countingBody{r: strings.NewReader(body)}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/json/1.3/"+method, nil)
	req.Body, req.ContentLength = cb, int64(len(body))
	if chunked {
		req.ContentLength = -1
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	req.RemoteAddr = "192.0.2.10:40000"
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var env envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("answer is not an envelope: %v: %s", err, rec.Body.String())
	}
	return sent{status: rec.Code, env: env, read: cb.read.Load(), header: rec.Header()}
}

// TestBodyReadBeforeAuthentication counts the body bytes the intake reads
// before it knows who is calling (issue 13, item 2): none after a wrong
// header token, at most 64 KiB (+1, to see there is more) without a
// token, all of it for an authenticated caller.
func TestBodyReadBeforeAuthentication(t *testing.T) {
	_, mux := bigAPI(t, 0)
	const big = 16<<20 - 1024 // within SMSFLEET_MAX_BODY_BYTES
	const bound = 64<<10 + 1
	getTags := `"application":"` + shop + `","hwid":"+4915112000001"`
	tests := []struct {
		name, method, header, body string
		chunked                    bool
		status, code               int
		msg                        string // substring of status_message
		maxRead                    int64  // -1: the whole body
	}{
		{"tokenless 16 MiB", "createMessage", "", padded(`"application":"`+shop+`"`, big, false), false, 413, 413, "send the token in the Authorization: Token header", bound},
		{"tokenless 16 MiB chunked", "createMessage", "", padded(`"application":"`+shop+`"`, big, false), true, 413, 413, "send the token in the Authorization: Token header", bound},
		{"wrong header token", "createMessage", "Token nope", padded(`"auth":"shop-server"`, big, false), false, 401, 401, "invalid auth token", 0},
		{"device header token on a server method", "createMessage", "Token " + shopDev, padded("", big, false), false, 403, 403, "server token", 0},
		{"wrong auth first in a large body", "createMessage", "", padded(`"auth":"nope"`, big, false), false, 401, 401, "invalid auth token", bound},
		{"auth after a large field", "getTags", "", padded(getTags+`,"auth":"shop-server"`, 200<<10, true), false, 413, 413, "larger than 65536 bytes without authentication", bound},
		{"auth before a large field", "getTags", "", padded(`"auth":"shop-server",`+getTags, 200<<10, false), false, 200, 200, "OK", -1},
		{"auth before a large field, chunked", "getTags", "", padded(`"auth":"shop-server",`+getTags, 200<<10, false), true, 200, 200, "OK", -1},
		{"header token, large body", "getTags", "Token " + shopToken, padded(getTags, 1<<20, false), false, 200, 200, "OK", -1},
		{"header token, 16 MiB chunked", "getTags", "Token " + shopToken, padded(getTags, big, false), true, 200, 200, "OK", -1},
		{"open application, tokenless and small", "registerDevice", "", `{"request":{"application":"` + open + `","hwid":"+4915112000002","device_type":18}}`, false, 200, 200, "OK", -1},
		{"header token, over the maximum", "getTags", "Token " + shopToken, padded(getTags, 16<<20+10, false), true, 413, 413, "larger than 16777216 bytes", 16<<20 + 1},
		{"declared length over the maximum", "getTags", "Token " + shopToken, padded(getTags, 16<<20+10, false), false, 413, 413, "larger than 16777216 bytes", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := send(t, mux, context.Background(), tt.method, tt.header, tt.body, tt.chunked)
			if got.status != tt.status || got.env.StatusCode != tt.code || !strings.Contains(got.env.StatusMessage, tt.msg) {
				t.Fatalf("HTTP %d, status_code %d %q; want %d/%d %q", got.status, got.env.StatusCode, got.env.StatusMessage, tt.status, tt.code, tt.msg)
			}
			want := tt.maxRead
			if want < 0 {
				want = int64(len(tt.body))
				if got.read != want {
					t.Fatalf("read %d bytes of the body, want all %d", got.read, want)
				}
				return
			}
			if got.read > want {
				t.Fatalf("read %d bytes of a %d-byte body before authenticating, want at most %d", got.read, len(tt.body), want)
			}
		})
	}
}

// TestBodyBytesInFlight: the process's budget of body bytes (issue 13,
// item 2). A request that cannot get its bytes waits, reading nothing;
// one whose deadline passes first gets 503 with Retry-After; a tokenless
// request needs only the small bound. Driven by the budget's own state,
// no clock.
func TestBodyBytesInFlight(t *testing.T) {
	const budget = 16 << 20 // the least allowed: one largest body
	a, mux := bigAPI(t, budget)
	body := padded(`"application":"`+shop+`","hwid":"+4915112000001"`, 100<<10, false)
	ctx := context.Background()

	// Everything in flight: an authenticated request whose deadline has
	// passed is refused without reading a byte.
	held, err := a.bodies.acquire(ctx, budget)
	if err != nil || held != budget {
		t.Fatalf("acquire: %d %v", held, err)
	}
	dead, cancel := context.WithCancel(ctx)
	cancel()
	got := send(t, mux, dead, "getTags", "Token "+shopToken, body, false)
	if got.status != 503 || got.env.StatusCode != 503 || got.header.Get("Retry-After") == "" || got.read != 0 {
		t.Fatalf("full budget: HTTP %d %q, Retry-After %q, read %d; want 503 with Retry-After, nothing read",
			got.status, got.env.StatusMessage, got.header.Get("Retry-After"), got.read)
	}

	// One with time left waits for its bytes, then goes through.
	done := make(chan sent, 1)
	go func() { done <- send(t, mux, ctx, "getTags", "Token "+shopToken, body, false) }()
	for a.bodies.waiting.Load() != 1 {
		runtime.Gosched()
	}
	select {
	case s := <-done:
		t.Fatalf("answered %d while the budget was spent", s.status)
	default:
	}
	a.bodies.release(held)
	if got := <-done; got.status != 200 || got.read != int64(len(body)) {
		t.Fatalf("after release: HTTP %d %q, read %d", got.status, got.env.StatusMessage, got.read)
	}

	// With all but 64 KiB in flight, a tokenless 16 MiB request still
	// gets its small bound at once (and its 413), while an authenticated
	// one of 100 KiB would have to wait.
	held, _ = a.bodies.acquire(ctx, budget-64<<10)
	got = send(t, mux, ctx, "createMessage", "", padded(`"application":"`+shop+`"`, 16<<20-1024, false), false)
	if got.status != 413 || got.read > 64<<10+1 {
		t.Fatalf("tokenless with 64 KiB free: HTTP %d %q, read %d", got.status, got.env.StatusMessage, got.read)
	}
	got = send(t, mux, dead, "getTags", "Token "+shopToken, body, false)
	if got.status != 503 {
		t.Fatalf("100 KiB with 64 KiB free: HTTP %d, want 503", got.status)
	}
	a.bodies.release(held)
}

func TestPrefixAuth(t *testing.T) {
	for _, tt := range []struct{ prefix, want string }{
		{`{"request":{"auth":"tok","x":`, "tok"},
		{`{"request":{"application":"A","auth":"tok"`, "tok"},
		{`{"other":[1,2,{"a":"b"}],"request":{"n":{"deep":[1]},"auth":"tok","pad":"xxx`, "tok"},
		{`{"request":{"pad":"xxxxx`, ""},
		{`{"request":{"auth":5}}`, ""},
		{`{"request":[{"auth":"tok"}]}`, ""},
		{`{"auth":"tok","request":{}}`, ""},
		{`[`, ""},
		{``, ""},
	} {
		if got := prefixAuth([]byte(tt.prefix)); got != tt.want {
			t.Errorf("prefixAuth(%s) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}
