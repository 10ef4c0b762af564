package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
)

// notRoles are the commands that serve nothing: they never take
// SMSFLEET_PPROF_ADDR, so a shell that exported it for `smsfleet all` can
// still run `smsfleet bench` against that fleet.
var notRoles = map[string]bool{"version": true, "bench": true}

// withPprof runs a role, serving net/http/pprof on SMSFLEET_PPROF_ADDR
// (when set) on a listener of its own for exactly as long as the role
// runs: it listens before the role starts (a taken address fails the
// start) and closes when the role returns.
func withPprof(ctx context.Context, name string, stderr io.Writer, run func(context.Context) error) error {
	if notRoles[name] {
		return run(ctx)
	}
	cfg, err := config.LoadPprof()
	if err != nil {
		return err
	}
	if cfg.Addr == "" {
		return run(ctx)
	}
	stop, addr, err := startPprof(cfg.Addr, stderr)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stderr, "smsfleet %s: profiles on http://%s/debug/pprof/ (SMSFLEET_PPROF_ADDR)\n", name, addr)
	return run(ctx)
}

// startPprof serves the profiles on addr and returns how to stop, and the
// address it listens on (addr with its port resolved).
func startPprof(addr string, stderr io.Writer) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on SMSFLEET_PPROF_ADDR %s: %w", addr, err)
	}
	// Its own mux: importing net/http/pprof also registers the handlers
	// on http.DefaultServeMux, which no smsfleet listener serves.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace streams for as long as its
	// seconds= asks.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "pprof on %s: %v\n", ln.Addr(), err)
		}
	}()
	return func() {
		// A profile being taken is cut short: the role has stopped.
		_ = srv.Close()
		<-done
	}, ln.Addr().String(), nil
}
