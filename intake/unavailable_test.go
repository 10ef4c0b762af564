package intake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// hangGuard only keeps a broken build from hanging the test run: the
// assertions never depend on how long anything took.
const hangGuard = 2 * time.Minute

// redisAPI serves the intake over a fresh redis-server through the client
// production builds (redisx.New) and the deadline every role's requests
// get (httprole.Deadline).
func redisAPI(t *testing.T, timeout time.Duration) (*testenv.Redis, *API, *httptest.Server) {
	t.Helper()
	r := testenv.NewRedis(t)
	rdb := redisx.New(config.Redis{Addr: r.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := newAPIWith(st)
	q := asynq.NewClientFromRedisClient(rdb)
	a.Enqueuer = dispatcher.NewEnqueuer(st, q, 3, time.Minute, func() time.Time { return testNow })
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(httprole.Deadline(timeout, mux))
	t.Cleanup(srv.Close)
	return r, a, srv
}

// freeze stops redis-server (SIGSTOP: it keeps its port and accepts
// connections, as a frozen host does, and answers nothing) and returns
// the function that resumes it.
func freeze(t *testing.T, r *testenv.Redis) (thaw func()) {
	t.Helper()
	c := r.Client(t)
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatal("INFO server: no process_id")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw = func() {
		if !thawed {
			thawed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	return thaw
}

type answer struct {
	status     int
	retryAfter string
	env        envelope
}

// call posts a Pushwoosh request and returns its answer, failing the test
// only if no answer comes at all (the hang guard).
func call(t *testing.T, srv *httptest.Server, method, request string) answer {
	t.Helper()
	done := make(chan answer, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/json/1.3/"+method, "application/json", strings.NewReader(`{"request":`+request+`}`))
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil {
			errc <- err
			return
		}
		done <- answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), env: env}
	}()
	select {
	case a := <-done:
		return a
	case err := <-errc:
		t.Fatalf("%s: %v", method, err)
	case <-time.After(hangGuard):
		t.Fatalf("%s: no answer while Redis is frozen: the request hangs", method)
	}
	return answer{}
}

func want503(t *testing.T, method string, got answer) {
	t.Helper()
	if got.status != http.StatusServiceUnavailable || got.env.StatusCode != http.StatusServiceUnavailable || got.retryAfter == "" {
		t.Fatalf("%s: HTTP %d, status_code %d %q, Retry-After %q; want 503 with Retry-After",
			method, got.status, got.env.StatusCode, got.env.StatusMessage, got.retryAfter)
	}
}

const (
	registerReq = `{"application":"` + shop + `","auth":"` + shopToken + `","hwid":"+4915112000001","device_type":18}`
	createReq   = `{"application":"` + shop + `","auth":"` + shopToken + `","notifications":[{"send_date":"now","content":"hi","devices":["+4915112000001"],"transactionId":"tx-1"}]}`
)

// TestFrozenRedisAnswers503BeforeItThaws: with redis-server frozen
// (SIGSTOP), registerDevice, createMessage and getMsgStats each answer 503
// with Retry-After while it is still frozen: Redis is resumed only after
// every answer arrived, so an answer at all proves the request did not
// wait for Redis. After the thaw, the createMessage retried with its
// transactionId gives one message, never two.
func TestFrozenRedisAnswers503BeforeItThaws(t *testing.T) {
	r, a, srv := redisAPI(t, 300*time.Millisecond)
	if got := call(t, srv, "registerDevice", registerReq); got.status != 200 {
		t.Fatalf("registerDevice before the freeze: %+v", got)
	}
	first := call(t, srv, "createMessage", `{"application":"`+shop+`","auth":"`+shopToken+`","notifications":[{"send_date":"now","content":"hi","devices":["+4915112000001"]}]}`)
	if first.status != 200 {
		t.Fatalf("createMessage before the freeze: %+v", first)
	}
	code := first.env.Response.(map[string]any)["Messages"].([]any)[0].(string)

	thaw := freeze(t, r)
	want503(t, "registerDevice", call(t, srv, "registerDevice", registerReq))
	created := call(t, srv, "createMessage", createReq)
	want503(t, "createMessage", created)
	want503(t, "getMsgStats", call(t, srv, "getMsgStats", `{"auth":"`+shopToken+`","message":"`+code+`"}`))
	thaw()

	// The uncertain write: the client retries with its transactionId.
	retried := call(t, srv, "createMessage", createReq)
	if retried.status != 200 {
		t.Fatalf("createMessage retried after the thaw: %+v", retried)
	}
	again := call(t, srv, "createMessage", createReq)
	if again.status != 200 || again.env.Response.(map[string]any)["Messages"].([]any)[0] != retried.env.Response.(map[string]any)["Messages"].([]any)[0] {
		t.Fatalf("a second retry with the same transactionId gave another message: %+v then %+v", retried, again)
	}
	msgs, _, err := a.Store.ListMessages(context.Background(), shop, 10, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages (%v), want 2: the first and the transactionId's one", len(msgs), err)
	}
	if !strings.Contains(created.env.StatusMessage, "transactionId") && created.env.StatusMessage != msgUnavailable {
		t.Fatalf("createMessage's 503 says %q", created.env.StatusMessage)
	}
}

// TestRedisDownAnswers503Not500: a Redis that is gone (connection
// refused) is unavailability, not an internal error.
func TestRedisDownAnswers503Not500(t *testing.T) {
	r, _, srv := redisAPI(t, 2*time.Second)
	r.Stop()
	for _, m := range []struct{ method, req string }{
		{"registerDevice", registerReq},
		{"createMessage", createReq},
		{"getMsgStats", `{"auth":"` + shopToken + `","message":"ABCD-12345678-12345678"}`},
	} {
		want503(t, m.method, call(t, srv, m.method, m.req))
	}
}
