package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/smsfleet/smsfleet/internal/simulator"
)

const simulatorHelp = `Runs the provider simulator alone on SMSFLEET_HTTP_ADDR (default
127.0.0.1:8080), for workers elsewhere (SMSFLEET_SIMULATOR_URL=http://<addr>/simulator)
and for load tests that should not share a process with the fleet. It speaks
the Twilio-style Messages API for any provider name, created on first use:

  POST /simulator/{provider}/2010-04-01/Accounts/{sid}/Messages.json
       form To, From or MessagingServiceSid, Body, StatusCallback; basic auth
       with any credentials whose user is {sid}; Idempotency-Key honoured
  GET  /simulator/messages?to=&provider=&limit=   accepted SMS, newest first
  GET  /simulator/{provider}/faults
  POST /simulator/{provider}/faults  {"down":false,"error_rate":0,"throttle_rate":0,"latency_ms":0}
       replaces all of the provider's faults (a field left out is reset)
  GET  /healthz

Test numbers: ...0001 is rejected (HTTP 400, code 21211), ...0004 fails once
per idempotency key (HTTP 503). Everything is in memory. Stop it with Ctrl-C.`

// simulatorKeep is how many accepted SMS the standalone simulator holds:
// enough for a long load test, bounded so it cannot grow without end.
const simulatorKeep = 1_000_000

func runSimulator(ctx context.Context, stdout io.Writer) error {
	// Read directly rather than through config.Load: the simulator needs
	// nothing else, and must not refuse to start over fleet settings
	// (applications, Redis) it never uses.
	addr := os.Getenv("SMSFLEET_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on SMSFLEET_HTTP_ADDR %s: %w", addr, err)
	}
	sim := simulator.New("simulator", simulatorKeep)
	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests live in ctx, so stopping ends the latency faults' waits
		// at once instead of holding shutdown for up to a minute.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "smsfleet simulator listening on http://%s/simulator/ (send: POST /simulator/{provider}/2010-04-01/Accounts/{sid}/Messages.json; faults: /simulator/{provider}/faults; list: GET /simulator/messages)\n", ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("simulator: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		_ = srv.Close()
		return fmt.Errorf("simulator: shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("simulator: %w", err)
	}
	return nil
}
