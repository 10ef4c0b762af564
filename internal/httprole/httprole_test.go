package httprole

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func probe(r *Role, path string) (int, string) {
	rec := httptest.NewRecorder()
	r.Mux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestReadyzChecksAndStopping(t *testing.T) {
	var down error
	inStop, release := make(chan struct{}), make(chan struct{})
	r := New(Options{
		Checks: []Check{{Name: "redis", Check: func(context.Context) error { return down }}},
		OnStop: func(context.Context) {
			close(inStop)
			<-release
		},
	})
	if code, body := probe(r, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, body := probe(r, "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("readyz: %d %q", code, body)
	}
	down = errors.New("redis ping: dial tcp 10.1.2.3:6379: connect: connection refused")
	// The failed dependency is named; its address and error are logged only.
	if code, body := probe(r, "/readyz"); code != 503 || body != "redis: unavailable\n" || strings.Contains(body, "10.1.2.3") {
		t.Fatalf("readyz with redis down: %d %q", code, body)
	}
	down = nil
	stopped := make(chan error, 1)
	go func() { stopped <- r.Shutdown(context.Background()) }()
	<-inStop
	// Still draining (OnStop has not returned): not ready, yet alive.
	if code, body := probe(r, "/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("readyz while stopping: %d %q", code, body)
	}
	if code, _ := probe(r, "/healthz"); code != 200 {
		t.Fatalf("healthz while stopping: %d", code)
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	stops := 0
	r := New(Options{OnStop: func(context.Context) { stops++ }})
	r.Mux().HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hi" {
		t.Fatalf("body %q", body)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after ctx done: %v", err)
	}
	_ = r.Shutdown(context.Background()) // a second shutdown is a no-op
	if stops != 1 {
		t.Fatalf("OnStop ran %d times, want once", stops)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/hello"); err == nil {
		t.Fatal("listener still open after shutdown")
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	r := New(Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	if err := r.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "http:") {
		t.Fatalf("Serve on a closed listener: %v", err)
	}
	if code, _ := probe(r, "/readyz"); code != 503 {
		t.Fatalf("readyz after the listener failed: %d", code)
	}
}

// TestDeadlineBoundsEveryRequest: the role's handler gives each request
// a context deadline (a second more per MiB of body), except under the
// exempt prefixes.
func TestDeadlineBoundsEveryRequest(t *testing.T) {
	r := New(Options{RequestTimeout: 3 * time.Second, NoDeadline: []string{"/free/"}})
	left := func(w http.ResponseWriter, req *http.Request) {
		d, ok := req.Context().Deadline()
		if !ok {
			_, _ = w.Write([]byte("none"))
			return
		}
		_, _ = w.Write([]byte(strconv.Itoa(int(time.Until(d).Round(time.Second) / time.Second))))
	}
	r.Mux().HandleFunc("/limited", left)
	r.Mux().HandleFunc("/free/x", left)
	get := func(path string, body int64) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(strings.Repeat("x", int(body))))
		r.Handler().ServeHTTP(rec, req)
		return rec.Body.String()
	}
	if got := get("/limited", 10); got != "3" {
		t.Fatalf("deadline of a small request: %s s, want 3", got)
	}
	if got := get("/limited", 4<<20); got != "7" {
		t.Fatalf("deadline of a 4 MiB request: %s s, want 7", got)
	}
	if got := get("/free/x", 10); got != "none" {
		t.Fatalf("exempt path: deadline %s, want none", got)
	}
}
