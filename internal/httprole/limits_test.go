package httprole

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hangGuard bounds every wait below: far beyond the configured timeouts,
// it only stops a broken server from hanging the test.
const hangGuard = 10 * time.Second

// countingListener counts the connections the server accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// serveLimited serves r on a fresh loopback listener until the test ends.
func serveLimited(t *testing.T, r *Role) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, cl) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(hangGuard):
			t.Error("Serve did not return")
		}
	})
	return cl
}

// waitClosed reads from c until the server closes it (EOF or reset); the
// hang guard's own deadline expiring is a failure.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(hangGuard))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

func get(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

func TestReadTimeoutCutsATrickledBody(t *testing.T) {
	r := New(Options{Limits: Limits{ReadTimeout: 300 * time.Millisecond, WriteTimeout: time.Minute, IdleTimeout: time.Minute}})
	readErr := make(chan error, 1)
	r.Mux().HandleFunc("POST /upload", func(w http.ResponseWriter, req *http.Request) {
		_, err := io.ReadAll(req.Body)
		readErr <- err
	})
	ln := serveLimited(t, r)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprint(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a byte every 20 ms: the body would take half an hour
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the trickled body was read to its end")
		}
	case <-time.After(hangGuard):
		t.Fatal("the handler is still reading the trickled body")
	}
	waitClosed(t, c, "trickled body")
}

func TestIdleTimeoutClosesKeepAlive(t *testing.T) {
	r := New(Options{Limits: Limits{ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 200 * time.Millisecond}})
	ln := serveLimited(t, r)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if resp := get(t, c, br); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %d close=%v", resp.StatusCode, resp.Close)
	}
	// Keep-alive: the server waits for a next request, then gives up.
	_ = c.SetReadDeadline(time.Now().Add(hangGuard))
	if _, err := br.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Fatalf("idle keep-alive connection: %v", err)
	}
}

func TestMaxConnsHoldsTheNextConnection(t *testing.T) {
	const limit = 2
	r := New(Options{Limits: Limits{ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxConns: limit}})
	ln := serveLimited(t, r)
	var conns []net.Conn
	for range limit {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if resp := get(t, c, bufio.NewReader(c)); resp.StatusCode != 200 {
			t.Fatalf("connection within the cap: %d", resp.StatusCode)
		}
		conns = append(conns, c)
	}
	// Both stay open (keep-alive); the next one waits in the backlog.
	extra, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if _, err := fmt.Fprint(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := extra.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection beyond the cap was answered: %v", err)
	}
	if n := ln.accepted.Load(); n != limit {
		t.Fatalf("accepted %d connections with a cap of %d", n, limit)
	}
	// One closes: the waiting connection is accepted and served.
	_ = conns[0].Close()
	_ = extra.SetReadDeadline(time.Now().Add(hangGuard))
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("connection beyond the cap after one closed: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("connection beyond the cap after one closed: %d", resp.StatusCode)
	}
	if n := ln.accepted.Load(); n != limit+1 {
		t.Fatalf("accepted %d connections, want %d", n, limit+1)
	}
}

func TestMaxHeaderBytesAnswers431(t *testing.T) {
	r := New(Options{Limits: Limits{ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 1 << 10}})
	ln := serveLimited(t, r)
	req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10)) // net/http allows 4 KiB of slack
	client := &http.Client{Timeout: hangGuard}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d, want 431", resp.StatusCode)
	}
	// Headers within the bound are served.
	resp, err = client.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("small headers: %d", resp.StatusCode)
	}
}
