package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// Applications every end-to-end test has.
const (
	shopApp    = "SHOP1-00001"
	shopToken  = "shop-server-token"
	shopDevice = "shop-device-token"
	bankApp    = "BANK1-00002"
	bankToken  = "bank-server-token"
	openApp    = "OPEN1-00003"
	openToken  = "open-server-token"
)

// clock is the intake's injectable clock: real time plus an offset, so a
// test can stand two seconds before a minute boundary.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Set(now time.Time)       { c.offset.Store(int64(time.Until(now))) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is one fleet (API and worker) on a fresh redis-server, with the
// provider simulator as its own HTTP server.
type env struct {
	t      testing.TB
	redis  *testenv.Redis
	rdb    *redis.Client
	fleet  *fleet.Fleet
	api    *httptest.Server
	sim    *simulator.Simulator
	simSrv *httptest.Server
	clock  *clock
	cfg    config.Config
}

func testConfig(t testing.TB) config.Config {
	t.Helper()
	var apps config.Applications
	if err := apps.UnmarshalText([]byte(shopApp + ":" + shopToken + ":" + shopDevice + "," + bankApp + ":" + bankToken + "," + openApp + ":" + openToken + "::open")); err != nil {
		t.Fatal(err)
	}
	// Every test configuration starts from the documented defaults and
	// changes only what the suite needs (fast polling, quick retries).
	c := config.Default()
	c.HTTPAddr, c.ShutdownGrace, c.MaxRecipients = "127.0.0.1:0", 5*time.Second, 200_000
	c.Retention, c.Applications = 24*time.Hour, apps
	// No fleet-wide delivery wait: a test that wants one sets it on its
	// notification, and the others leave no wait entries behind.
	c.DeliveryWait = 0
	c.Worker = config.Worker{
		Concurrency: 50, DispatchConcurrency: 4, TaskCheckInterval: 20 * time.Millisecond, DelayedCheckInterval: 200 * time.Millisecond,
		MaxAttempts: 4, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		SendTimeout: 10 * time.Second, OutboxInterval: time.Hour,
	}
	return c
}

// newEnv starts a fleet. mutate, if given, adjusts the configuration; roles
// default to API and worker.
func newEnv(t testing.TB, mutate ...func(*config.Config, *fleet.Roles)) *env {
	t.Helper()
	e := &env{t: t, redis: testenv.NewRedis(t), clock: &clock{}, cfg: testConfig(t)}
	roles := fleet.Roles{API: true, Worker: true}
	for _, m := range mutate {
		m(&e.cfg, &roles)
	}
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.rdb = e.redis.Client(t)
	e.sim = simulator.New("simulator", 0)
	e.simSrv = httptest.NewServer(e.sim.Handler())
	t.Cleanup(e.simSrv.Close)
	// The API's address is known before the fleet exists, so providers can
	// be told where to post their receipts.
	e.api = httptest.NewUnstartedServer(nil)
	if e.cfg.PublicURL == "" {
		e.cfg.PublicURL = "http://" + e.api.Listener.Addr().String()
	}
	f, err := fleet.New(context.Background(), fleet.Options{
		Config: e.cfg, Roles: roles, Redis: e.rdb, Now: e.clock.Now, Providers: e.providers(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	e.fleet = f
	e.api.Config.Handler = f.Handler()
	e.api.Start()
	t.Cleanup(func() {
		e.api.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.Shutdown(ctx)
	})
	return e
}

// providers are simulator clients on e's simulator server: one per
// provider the configuration names (each a separate simulated provider
// with its own faults), or a single "simulator".
func (e *env) providers() []provider.Provider {
	names := []string{"simulator"}
	if len(e.cfg.Providers) > 0 {
		names = names[:0]
		for _, p := range e.cfg.Providers {
			names = append(names, p.Name)
		}
	}
	out := make([]provider.Provider, len(names))
	for i, n := range names {
		sim := provider.NewSimulator(n, e.simSrv.URL+"/simulator", nil)
		sim.SetStatusCallback(e.cfg.PublicURL + "/webhooks/dlr/" + n)
		out[i] = sim
	}
	return out
}

// reply is a decoded Pushwoosh envelope.
type reply struct {
	HTTP          int
	StatusCode    int             `json:"status_code"`
	StatusMessage string          `json:"status_message"`
	Response      json.RawMessage `json:"response"`
}

// call posts {"request": req} to /json/1.3/method. header, if not empty, is
// sent as Authorization.
func (e *env) call(method string, req any, header string) reply {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"request": req})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post(method, body, header)
}

func (e *env) post(method string, body []byte, header string) reply {
	e.t.Helper()
	hr, _ := http.NewRequest(http.MethodPost, e.api.URL+"/json/1.3/"+method, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	if header != "" {
		hr.Header.Set("Authorization", header)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		e.t.Fatalf("%s: HTTP %d, body is not an envelope: %s", method, resp.StatusCode, raw)
	}
	r.HTTP = resp.StatusCode
	return r
}

// mustOK calls and fails the test unless the answer is 200/200.
func (e *env) mustOK(method string, req any) json.RawMessage {
	e.t.Helper()
	r := e.call(method, req, "")
	if r.HTTP != 200 || r.StatusCode != 200 {
		e.t.Fatalf("%s: HTTP %d status %d %q", method, r.HTTP, r.StatusCode, r.StatusMessage)
	}
	return r.Response
}

// register registers phones as SMS devices of app (with its server token).
func (e *env) register(app, token string, phones ...string) {
	e.t.Helper()
	for _, p := range phones {
		e.mustOK("registerDevice", map[string]any{"application": app, "auth": token, "hwid": p, "device_type": 18})
	}
}

// send creates one notification for shopApp and returns its message code.
func (e *env) send(n map[string]any) string {
	e.t.Helper()
	raw := e.mustOK("createMessage", map[string]any{"application": shopApp, "auth": shopToken, "notifications": []any{n}})
	var resp struct{ Messages []string }
	if err := json.Unmarshal(raw, &resp); err != nil || len(resp.Messages) != 1 {
		e.t.Fatalf("createMessage response %s: %v", raw, err)
	}
	return resp.Messages[0]
}

type recipientView struct {
	ID, To, Status, Provider, Error, Reason, Operator string
	History                                           []struct {
		Provider, Outcome, Error string
		At                       time.Time
	}
	ProviderRef string `json:"provider_ref"`
	Segments    int
	Encoding    string
	Attempts    int
}

type messageView struct {
	Message struct {
		Code       string
		Type       string
		Recipients int
		Segments   int64
		Canceled   bool
		Counts     map[string]int64
		Groups     []struct {
			Zone       string
			SendAt     time.Time `json:"send_at"`
			Recipients int
		}
	}
	Recipients []recipientView
	NextCursor string `json:"next_cursor"`
}

// native GETs a native API path with token and decodes the JSON into out.
func (e *env) native(path, token string, out any) int {
	e.t.Helper()
	hr, _ := http.NewRequest(http.MethodGet, e.api.URL+path, nil)
	if token != "" {
		hr.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("GET %s: HTTP %d: %s", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func (e *env) message(code string) messageView {
	e.t.Helper()
	var v messageView
	if st := e.native("/api/v1/messages/"+code+"?limit=1000", shopToken, &v); st != 200 {
		e.t.Fatalf("GET message %s: HTTP %d", code, st)
	}
	return v
}

// waitCounts polls the message until its counts equal want (zero counts
// may be left out of want) or timeout passes.
func (e *env) waitCounts(code string, want map[string]int64, timeout time.Duration) messageView {
	e.t.Helper()
	var v messageView
	if !poll(timeout, 50*time.Millisecond, func() bool {
		v = e.message(code)
		return countsEqual(v.Message.Counts, want)
	}) {
		e.t.Fatalf("message %s: counts %v, want %v", code, nonZero(v.Message.Counts), want)
	}
	return v
}

func countsEqual(got, want map[string]int64) bool {
	for k, v := range got {
		if want[k] != v {
			return false
		}
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// phones returns n distinct valid German mobile numbers starting at from
// (0 to 999,999); the simulator rejects those ending 0001 and fails those
// ending 0004 once.
func phones(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+4915112%06d", from+i)
	}
	return out
}
