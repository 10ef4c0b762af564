package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/httprole"
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
  POST /simulator/{provider}/faults  {"down":false,"error_rate":0,"throttle_rate":0,"latency_ms":0,
                                      "undelivered_rate":0,"receipt_delay_ms":0}
       replaces all of the provider's faults (a field left out is reset)
  GET  /healthz, /readyz

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
	limits, err := config.LoadHTTP()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on SMSFLEET_HTTP_ADDR %s: %w", addr, err)
	}
	sim := simulator.New("simulator", simulatorKeep)
	// Requests live in ctx, so stopping ends the latency faults' waits at
	// once instead of holding shutdown for up to a minute.
	role := httprole.New(httprole.Options{
		Grace: 10 * time.Second, RequestsEndWithServe: true, Limits: httprole.Limits(limits),
	})
	role.Mux().Handle("/simulator/", sim.Handler())
	fmt.Fprintf(stdout, "smsfleet simulator listening on http://%s/simulator/ (send: POST /simulator/{provider}/2010-04-01/Accounts/{sid}/Messages.json; faults: /simulator/{provider}/faults; list: GET /simulator/messages)\n", ln.Addr())
	if err := role.Serve(ctx, ln); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	return nil
}
