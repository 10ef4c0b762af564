// Package harness is the end-to-end suite's test harness: a whole fleet
// (API and worker) on a fresh redis-server with the provider simulator as
// its own HTTP server, and the calls the tests make against it (the
// Pushwoosh-compatible JSON API, the native API, waiting for counts).
//
// It is test-only code: only the tests in internal/e2e import it.
package harness

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
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// Applications every end-to-end test has: their codes, server tokens, and
// ShopApp's device token. OpenApp is open (device calls need no token).
const (
	ShopApp    = "SHOP1-00001"
	ShopToken  = "shop-server-token"
	ShopDevice = "shop-device-token"
	BankApp    = "BANK1-00002"
	BankToken  = "bank-server-token"
	OpenApp    = "OPEN1-00003"
	OpenToken  = "open-server-token"
)

// Clock is the intake's injectable clock: real time plus an offset, so a
// test can stand two seconds before a minute boundary.
type Clock struct{ offset atomic.Int64 }

// Now is the real time plus the clock's offset.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Set moves the clock so that it reads now.
func (c *Clock) Set(now time.Time) { c.offset.Store(int64(time.Until(now))) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Env is one fleet (API and worker) on a fresh redis-server, with the
// provider simulator as its own HTTP server.
type Env struct {
	// T is the test that started the fleet; Env's methods fail it.
	T testing.TB
	// Redis is the fleet's redis-server, RDB the fleet's client of it
	// (both nil on a cluster: NewOnCluster, or New on the cluster run,
	// where tests reach them through Plain and StandaloneOnly).
	Redis *testenv.Redis
	RDB   *redis.Client
	// Cluster is the fleet's Redis Cluster (NewOnCluster; else nil).
	Cluster *testenv.Cluster
	// Client is the fleet's Redis client: RDB, or the cluster's.
	Client redis.UniversalClient
	// Logs holds what the fleet logged at warn level and above
	// (NewOnCluster; else nil, the fleet logs nothing).
	Logs *observer.ObservedLogs
	// Fleet is the running fleet, API its HTTP server.
	Fleet *fleet.Fleet
	API   *httptest.Server
	// Sim is the provider simulator, SimServer its HTTP server.
	Sim       *simulator.Simulator
	SimServer *httptest.Server
	// Clock is the fleet's injected clock.
	Clock *Clock
	// Config is the fleet's configuration, after New's mutators.
	Config config.Config
}

// TestConfig is the suite's configuration: the documented defaults with
// the three applications, fast polling, and quick retries.
func TestConfig(t testing.TB) config.Config {
	t.Helper()
	var apps config.Applications
	if err := apps.UnmarshalText([]byte(ShopApp + ":" + ShopToken + ":" + ShopDevice + "," + BankApp + ":" + BankToken + "," + OpenApp + ":" + OpenToken + "::open")); err != nil {
		t.Fatal(err)
	}
	// Every test configuration starts from the documented defaults and
	// changes only what the suite needs (fast polling, quick retries).
	c := config.Default()
	c.HTTPAddr, c.ShutdownGrace, c.MaxRecipients = "127.0.0.1:0", 5*time.Second, 200_000
	c.Retention, c.Applications = 24*time.Hour, apps
	// The simulator's receipts and replies are signed with it (no built-in
	// default exists).
	c.SimulatorSecret = "e2e-simulator-webhook-secret"
	// No fleet-wide delivery wait: a test that wants one sets it on its
	// notification, and the others leave no wait entries behind.
	c.DeliveryWait = 0
	// Every request comes from 127.0.0.1 and the suites refuse tokens on
	// purpose: no failure budget (authguard's own tests cover it).
	c.AuthFailures = 0
	c.Worker = config.Worker{
		Concurrency: 50, DispatchConcurrency: 4, TaskCheckInterval: 20 * time.Millisecond, OTPCheckInterval: 5 * time.Millisecond, DelayedCheckInterval: 200 * time.Millisecond,
		MaxAttempts: 4, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		SendTimeout: 10 * time.Second, OutboxInterval: time.Hour,
	}
	// Batch tasks as a deployment runs them (decision 21).
	c.Worker.Batch = config.Default().Worker.Batch
	return c
}

// New starts a fleet on a fresh redis-server and stops it at cleanup
// (on the cluster run, SMSFLEET_E2E_REDIS=cluster, on the run's emptied
// Redis Cluster: backend.go). mutate, if given, adjusts the configuration
// and roles; roles default to API and worker.
func New(t testing.TB, mutate ...func(*config.Config, *fleet.Roles)) *Env {
	t.Helper()
	if OnCluster() {
		return newOnSharedCluster(t, mutate...)
	}
	r := testenv.NewRedis(t)
	e := newEnv(t, r.Client(t), nil, mutate...)
	e.Redis = r
	return e
}

// newEnv starts a fleet on the Redis client rdb (see New), logging to log
// (nil: nowhere).
func newEnv(t testing.TB, rdb redis.UniversalClient, log *zap.Logger, mutate ...func(*config.Config, *fleet.Roles)) *Env {
	t.Helper()
	e := &Env{T: t, Client: rdb, Clock: &Clock{}, Config: TestConfig(t)}
	e.RDB, _ = rdb.(*redis.Client)
	roles := fleet.Roles{API: true, Worker: true}
	for _, m := range mutate {
		m(&e.Config, &roles)
	}
	if err := e.Config.Validate(); err != nil {
		t.Fatal(err)
	}
	e.Sim = simulator.New("simulator", 0)
	// Its webhook timestamps are checked against the fleet's clock.
	e.Sim.SetClock(e.Clock.Now)
	// Receipts stay off (delay 0) until a test turns them on; replies
	// (Sim.PostReply) are signed with the fleet's simulator secret.
	e.Sim.SendReceipts(0, e.Config.SimulatorSecret)
	e.SimServer = httptest.NewServer(e.Sim.Handler())
	t.Cleanup(e.SimServer.Close)
	// The API's address is known before the fleet exists, so providers can
	// be told where to post their receipts.
	e.API = httptest.NewUnstartedServer(nil)
	if e.Config.PublicURL == "" {
		e.Config.PublicURL = "http://" + e.API.Listener.Addr().String()
	}
	f, err := fleet.New(context.Background(), fleet.Options{
		Config: e.Config, Roles: roles, Redis: e.Client, Now: e.Clock.Now, Providers: e.Providers(), Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	e.Fleet = f
	e.API.Config.Handler = f.Handler()
	e.API.Start()
	t.Cleanup(func() {
		e.API.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.Shutdown(ctx)
	})
	return e
}

// Providers are simulator clients on e's simulator server: one per
// provider the configuration names (each a separate simulated provider
// with its own faults), or a single "simulator".
func (e *Env) Providers() []provider.Provider {
	names := []string{"simulator"}
	if len(e.Config.Providers) > 0 {
		names = names[:0]
		for _, p := range e.Config.Providers {
			names = append(names, p.Name)
		}
	}
	out := make([]provider.Provider, len(names))
	for i, n := range names {
		sim := provider.NewSimulator(n, e.SimServer.URL+"/simulator", nil)
		sim.SetStatusCallback(e.Config.PublicURL + "/webhooks/dlr/" + n)
		out[i] = sim
	}
	return out
}

// Reply is a decoded Pushwoosh envelope.
type Reply struct {
	HTTP          int
	StatusCode    int             `json:"status_code"`
	StatusMessage string          `json:"status_message"`
	Response      json.RawMessage `json:"response"`
}

// Call posts {"request": req} to /json/1.3/method. header, if not empty, is
// sent as Authorization.
func (e *Env) Call(method string, req any, header string) Reply {
	e.T.Helper()
	body, err := json.Marshal(map[string]any{"request": req})
	if err != nil {
		e.T.Fatal(err)
	}
	return e.Post(method, body, header)
}

// Post posts body as it is to /json/1.3/method and decodes the envelope.
// header, if not empty, is sent as Authorization.
func (e *Env) Post(method string, body []byte, header string) Reply {
	e.T.Helper()
	hr, _ := http.NewRequest(http.MethodPost, e.API.URL+"/json/1.3/"+method, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	if header != "" {
		hr.Header.Set("Authorization", header)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r Reply
	if err := json.Unmarshal(raw, &r); err != nil {
		e.T.Fatalf("%s: HTTP %d, body is not an envelope: %s", method, resp.StatusCode, raw)
	}
	r.HTTP = resp.StatusCode
	return r
}

// MustOK calls and fails the test unless the answer is 200/200.
func (e *Env) MustOK(method string, req any) json.RawMessage {
	e.T.Helper()
	r := e.Call(method, req, "")
	if r.HTTP != 200 || r.StatusCode != 200 {
		e.T.Fatalf("%s: HTTP %d status %d %q", method, r.HTTP, r.StatusCode, r.StatusMessage)
	}
	return r.Response
}

// Register registers phones as SMS devices of app (with its server token).
func (e *Env) Register(app, token string, phones ...string) {
	e.T.Helper()
	for _, p := range phones {
		e.MustOK("registerDevice", map[string]any{"application": app, "auth": token, "hwid": p, "device_type": 18})
	}
}

// Send creates one notification for ShopApp and returns its message code.
func (e *Env) Send(n map[string]any) string {
	e.T.Helper()
	raw := e.MustOK("createMessage", map[string]any{"application": ShopApp, "auth": ShopToken, "notifications": []any{n}})
	var resp struct{ Messages []string }
	if err := json.Unmarshal(raw, &resp); err != nil || len(resp.Messages) != 1 {
		e.T.Fatalf("createMessage response %s: %v", raw, err)
	}
	return resp.Messages[0]
}

// RecipientView is one recipient of a message in the native API.
type RecipientView struct {
	ID, To, Status, Provider, Error, Reason, Operator string
	History                                           []struct {
		Provider, Outcome, Error string
		At                       time.Time
	}
	ProviderRef string `json:"provider_ref"`
	Segments    int
	Encoding    string
	Attempts    int
	Cost        string
}

// MessageView is the native API's message with its recipients.
type MessageView struct {
	Message struct {
		Code       string
		Type       string
		Recipients int
		Segments   int64
		Canceled   bool
		Cost       string
		Currency   string
		Counts     map[string]int64
		Groups     []struct {
			Zone       string
			SendAt     time.Time `json:"send_at"`
			Recipients int
		}
	}
	Recipients []RecipientView
	NextCursor string `json:"next_cursor"`
}

// Native GETs a native API path with token and decodes the JSON into out.
func (e *Env) Native(path, token string, out any) int {
	e.T.Helper()
	hr, _ := http.NewRequest(http.MethodGet, e.API.URL+path, nil)
	if token != "" {
		hr.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, out); err != nil {
			e.T.Fatalf("GET %s: HTTP %d: %s", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// Message GETs the message code of ShopApp (with up to 1000 recipients)
// from the native API and fails the test unless it answers 200.
func (e *Env) Message(code string) MessageView {
	e.T.Helper()
	var v MessageView
	if st := e.Native("/api/v1/messages/"+code+"?limit=1000", ShopToken, &v); st != 200 {
		e.T.Fatalf("GET message %s: HTTP %d", code, st)
	}
	return v
}

// WaitCounts polls the message until its counts equal want (zero counts
// may be left out of want) or timeout passes.
func (e *Env) WaitCounts(code string, want map[string]int64, timeout time.Duration) MessageView {
	e.T.Helper()
	var v MessageView
	if !Poll(timeout, 50*time.Millisecond, func() bool {
		v = e.Message(code)
		return CountsEqual(v.Message.Counts, want)
	}) {
		e.T.Fatalf("message %s: counts %v, want %v", code, NonZero(v.Message.Counts), want)
	}
	return v
}

// CountsEqual reports whether the counts got and want are equal, a missing
// count being zero.
func CountsEqual(got, want map[string]int64) bool {
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

// NonZero is m without its zero counts.
func NonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// Phones returns n distinct valid German mobile numbers starting at from
// (0 to 999,999); the simulator rejects those ending 0001 and fails those
// ending 0004 once.
func Phones(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+4915112%06d", from+i)
	}
	return out
}
