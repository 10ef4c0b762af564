package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPprofOnItsOwnAddress: with SMSFLEET_PPROF_ADDR a role serves
// /debug/pprof/ there while it runs, never on its public listener, and
// stops serving when the role stops; without it the role starts no
// profiling listener; a bad address fails the start before the role runs.
func TestPprofOnItsOwnAddress(t *testing.T) {
	tests := []struct {
		name, addr string
		wantErr    string // non-empty: the start fails naming this
	}{
		{"unset", "", ""},
		{"loopback, any port", "127.0.0.1:0", ""},
		{"not host:port", "6060", "SMSFLEET_PPROF_ADDR"},
		{"the public listener's address", "127.0.0.1:8080", "must differ from SMSFLEET_HTTP_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SMSFLEET_PPROF_ADDR", tt.addr)
			if tt.wantErr != "" {
				t.Setenv("SMSFLEET_HTTP_ADDR", "127.0.0.1:8080")
				ran := false
				err := withPprof(context.Background(), "all", io.Discard, func(context.Context) error { ran = true; return nil })
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ran {
					t.Fatalf("err %v (role ran: %v), want an error naming %q and no role", err, ran, tt.wantErr)
				}
				return
			}
			pprofAddr, base, stop := startDevWithPprof(t)
			if code, body := httpGet(t, base+"/debug/pprof/"); code == http.StatusOK || strings.Contains(body, "goroutine") {
				t.Fatalf("the public listener serves profiles: HTTP %d", code)
			}
			if tt.addr == "" {
				if pprofAddr != "" {
					t.Fatalf("profiles on %s without SMSFLEET_PPROF_ADDR", pprofAddr)
				}
				stop()
				return
			}
			if pprofAddr == "" {
				t.Fatal("no profiling listener announced")
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
				if code, body := httpGet(t, "http://"+pprofAddr+path); code != http.StatusOK || body == "" {
					t.Fatalf("GET %s on the pprof address: HTTP %d", path, code)
				}
			}
			stop()
			if c, err := net.DialTimeout("tcp", pprofAddr, time.Second); err == nil {
				c.Close()
				t.Fatalf("pprof still listens on %s after the role stopped", pprofAddr)
			}
		})
	}
}

// startDevWithPprof runs `smsfleet dev` as run does (through withPprof)
// and returns the profiling address it announced (empty: none), the
// fleet's base URL, and a stop that returns once the role and its
// profiling listener are down.
func startDevWithPprof(t *testing.T) (pprofAddr, base string, stop func()) {
	t.Helper()
	t.Setenv("SMSFLEET_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("SMSFLEET_DEV_KAFKA_ADDR", "127.0.0.1:0")
	t.Setenv("SMSFLEET_LOG_LEVEL", "warn")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- withPprof(ctx, "dev", &errOut, func(ctx context.Context) error { return runDev(ctx, &out) })
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev did not stop cleanly: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("dev did not stop within a minute")
		}
	}
	t.Cleanup(stop)
	api := regexp.MustCompile(`API\s+http://(\S+)/json/1.3`)
	prof := regexp.MustCompile(`profiles on http://(\S+)/debug/pprof/`)
	// A hang guard only, generous for a busy machine.
	for deadline := time.Now().Add(time.Minute); ; {
		if m := api.FindStringSubmatch(out.String()); m != nil {
			// The announcement comes before the role starts, so it is
			// there by the time the banner is.
			if p := prof.FindStringSubmatch(errOut.String()); p != nil {
				pprofAddr = p[1]
			}
			return pprofAddr, "http://" + m[1], stop
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("dev returned before its banner: %v; %s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %s %s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPprofThroughRun: the command line wires it in, for a role that does
// not load the fleet's configuration (the standalone simulator) too.
func TestPprofThroughRun(t *testing.T) {
	addr, prof := freeAddr(t), freeAddr(t)
	t.Setenv("SMSFLEET_HTTP_ADDR", addr)
	t.Setenv("SMSFLEET_PPROF_ADDR", prof)
	stop := runUntilSIGTERM(t, "simulator", addr)
	if code, _ := httpGet(t, "http://"+prof+"/debug/pprof/"); code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/ on SMSFLEET_PPROF_ADDR: HTTP %d", code)
	}
	if code, _ := httpGet(t, "http://"+addr+"/debug/pprof/"); code == http.StatusOK {
		t.Fatal("the public listener serves profiles")
	}
	stop()
	if c, err := net.DialTimeout("tcp", prof, time.Second); err == nil {
		c.Close()
		t.Fatalf("pprof still listens on %s after the role stopped", prof)
	}
}
