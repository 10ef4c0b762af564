package inbound

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestFrozenRedisAnswers503BeforeItThaws: a STOP reply while redis-server
// is frozen (SIGSTOP) is answered 503 with Retry-After while Redis is
// still frozen (it is resumed only after the answer), so the provider
// retries instead of hanging; after the thaw the retry opts the phone out.
func TestFrozenRedisAnswers503BeforeItThaws(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := redisx.New(config.Redis{Addr: r.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb, 24*time.Hour)
	mux := http.NewServeMux()
	newTestInbound(testOpts{
		Sources: []provider.Source{{Name: "gw", Kind: "json", Secret: "gw-secret"}},
		OptOuts: st, StopWords: []string{"STOP"}, StartWords: []string{"START"},
		Apps: func(string) []string { return []string{"SHOP1-00001"} }, DefaultRegion: "DE", Log: zap.NewNop(), Replays: st,
	}).Register(mux)
	srv := httptest.NewServer(httprole.Deadline(300*time.Millisecond, mux))
	defer srv.Close()
	body := `{"from":"+4915112000001","to":"SHOP","text":"STOP"}`
	post := func() (int, string) {
		type answer struct {
			status     int
			retryAfter string
		}
		done := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/inbound/gw", strings.NewReader(body))
			signJSON(req.Header, "gw-secret", body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- answer{status: -1, retryAfter: err.Error()}
				return
			}
			resp.Body.Close()
			done <- answer{resp.StatusCode, resp.Header.Get("Retry-After")}
		}()
		select {
		case a := <-done:
			return a.status, a.retryAfter
		case <-time.After(2 * time.Minute): // hang guard only
			t.Fatal("no answer while Redis is frozen: the webhook hangs")
		}
		return 0, ""
	}

	pid := redisPID(t, r)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	status, retryAfter := post()
	_ = syscall.Kill(pid, syscall.SIGCONT)
	if status != http.StatusServiceUnavailable || retryAfter == "" {
		t.Fatalf("STOP while Redis is frozen: HTTP %d, Retry-After %q; want 503 with Retry-After", status, retryAfter)
	}
	if status, _ := post(); status != http.StatusNoContent {
		t.Fatalf("the provider's retry after the thaw: HTTP %d, want 204", status)
	}
	list, _, err := st.ListOptOuts(context.Background(), "SHOP1-00001", 0, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("opt-outs after the retry: %v %v", list, err)
	}
}

// redisPID is the process id of the test's redis-server.
func redisPID(t *testing.T, r *testenv.Redis) int {
	t.Helper()
	info, err := r.Client(t).Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			if pid, err := strconv.Atoi(v); err == nil {
				return pid
			}
		}
	}
	t.Fatal("INFO server: no process_id")
	return 0
}
