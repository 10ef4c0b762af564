// Package httprole is the HTTP skeleton every smsfleet role serves on: a
// mux with /healthz and /readyz, a listener, and graceful shutdown. The
// fleet (api, worker, receipts), the monitor and the standalone simulator
// all use it, so probes and shutdown behave the same in every role.
//
// Shutdown order: /readyz answers 503 from the moment shutdown begins, so a
// load balancer still probing stops sending; then the listener closes and
// in-flight requests finish (within the grace period); then the role's own
// OnStop (the fleet drains its workers there).
package httprole

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Check is one readiness dependency; an error makes /readyz answer 503
// with "name: error".
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// checkTimeout bounds all of /readyz's checks together: a probe must
// answer before the orchestrator's own probe timeout.
const checkTimeout = 2 * time.Second

// Options configure a Role.
type Options struct {
	// Checks are run in order by /readyz.
	Checks []Check
	// Grace bounds shutdown after Serve's context ends (zero: 25s, the
	// default SMSFLEET_SHUTDOWN_GRACE).
	Grace time.Duration
	// OnStop runs after the listener closed, within the grace period.
	OnStop func(ctx context.Context)
	// RequestsEndWithServe gives requests Serve's context, so stopping
	// ends long-running handlers (the simulator's latency faults) at once
	// instead of holding shutdown.
	RequestsEndWithServe bool
	Log                  *zap.Logger
}

// Role is one process's HTTP listener.
type Role struct {
	opts     Options
	mux      *http.ServeMux
	stopping atomic.Bool
	mu       sync.Mutex
	srv      *http.Server
	once     sync.Once
	stopErr  error
}

// New returns a role whose mux already serves /healthz and /readyz.
func New(o Options) *Role {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Grace <= 0 {
		o.Grace = 25 * time.Second
	}
	r := &Role{opts: o, mux: http.NewServeMux()}
	r.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	r.mux.HandleFunc("GET /readyz", r.ready)
	return r
}

// Mux is where the role's own routes go.
func (r *Role) Mux() *http.ServeMux { return r.mux }

// Stopping reports whether shutdown has begun.
func (r *Role) Stopping() bool { return r.stopping.Load() }

func (r *Role) ready(w http.ResponseWriter, req *http.Request) {
	if r.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), checkTimeout)
	defer cancel()
	for _, c := range r.opts.Checks {
		if err := c.Check(ctx); err != nil {
			http.Error(w, c.Name+": "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Serve serves on ln until ctx is done or the listener fails, then shuts
// down within the grace period. It returns nil after a shutdown asked for
// by ctx.
func (r *Role) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: r.mux, ReadHeaderTimeout: 10 * time.Second}
	if r.opts.RequestsEndWithServe {
		srv.BaseContext = func(net.Listener) context.Context { return ctx }
	}
	r.mu.Lock()
	if r.stopping.Load() {
		r.mu.Unlock()
		return errors.New("http: serve after shutdown")
	}
	r.srv = srv
	r.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("http: %w", err)
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), r.opts.Grace)
	defer cancel()
	if err := r.Shutdown(sctx); err != nil && serveErr == nil {
		r.opts.Log.Warn("http shutdown", zap.Error(err))
	}
	return serveErr
}

// Shutdown fails readiness, closes the listener letting in-flight requests
// finish until ctx ends (then drops them), and runs OnStop. Only the first
// call does anything; later ones return its result.
func (r *Role) Shutdown(ctx context.Context) error {
	r.once.Do(func() {
		r.mu.Lock()
		r.stopping.Store(true)
		srv := r.srv
		r.mu.Unlock()
		if srv != nil {
			if err := srv.Shutdown(ctx); err != nil {
				// Grace period over: drop the connections still open.
				_ = srv.Close()
				r.stopErr = fmt.Errorf("http shutdown: %w", err)
			}
		}
		if r.opts.OnStop != nil {
			r.opts.OnStop(ctx)
		}
	})
	return r.stopErr
}
