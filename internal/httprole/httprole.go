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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"github.com/smsfleet/smsfleet/internal/metrics"
)

// Check is one readiness dependency; an error makes /readyz answer 503
// with "name: unavailable" (the error itself, which may hold addresses,
// goes to the log, not to whoever probes).
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
	// RequestTimeout is every request's deadline (its context's), plus a
	// second per MiB of declared body so the largest createMessage has
	// time for its work; zero: none. A handler whose dependency does not
	// answer within it answers 503 with Retry-After (see Unavailable).
	RequestTimeout time.Duration
	// NoDeadline lists path prefixes served without RequestTimeout (the
	// in-process simulator's latency faults, the Asynq monitor); their
	// write timeout is twice Limits.WriteTimeout.
	NoDeadline []string
	// Limits bound every connection (timeouts, header size) and how many
	// are open at once. Their values come from the configuration
	// (SMSFLEET_HTTP_*, config.Default), the one source of defaults; the
	// zero value bounds nothing.
	Limits Limits
	Log    *zap.Logger
}

// Limits bound the connections of a role's listener, so slow or idle
// clients cannot hold its file descriptors (issue 13, item 4). A zero
// duration means no timeout, as in net/http; zero MaxHeaderBytes is
// net/http's default (1 MiB); zero MaxConns is no cap. The fields match
// config.HTTP (SMSFLEET_HTTP_*), which converts to Limits.
type Limits struct {
	// ReadTimeout bounds reading one whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the
	// end of its response; it must exceed the request deadline.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request (zero: ReadTimeout, as in net/http).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (431 beyond).
	MaxHeaderBytes int
	// MaxConns caps the connections open at once; beyond it new ones wait
	// in the kernel's backlog until one closes.
	MaxConns int
}

// readHeaderTimeout bounds reading a request's headers (within
// Limits.ReadTimeout when that is shorter).
const readHeaderTimeout = 10 * time.Second

// RetryAfter is the Retry-After (seconds) of every 503 a dependency that
// did not answer causes: long enough not to hammer it, short enough that
// a blip costs a client little.
const RetryAfter = 2

// Unavailable answers 503 with Retry-After and a plain-text msg.
func Unavailable(w http.ResponseWriter, msg string) {
	SetRetryAfter(w)
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// SetRetryAfter sets the Retry-After header of a 503 (for handlers that
// write their own body).
func SetRetryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
}

// Deadline gives every request through h a context deadline of timeout
// plus one second per MiB of its declared body (zero timeout: h itself).
func Deadline(timeout time.Duration, h http.Handler) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), RequestDeadline(timeout, req.ContentLength))
		defer cancel()
		h.ServeHTTP(w, req.WithContext(ctx))
	})
}

// RequestDeadline is the deadline of a request with a body of bodyBytes:
// timeout plus a second per MiB, so the largest createMessage has time
// to be read and decoded. The configuration checks the write timeout
// against it for the largest body allowed.
func RequestDeadline(timeout time.Duration, bodyBytes int64) time.Duration {
	if timeout <= 0 {
		return 0
	}
	return timeout + time.Duration(max(bodyBytes, 0)>>20)*time.Second
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

// Handler is what the listener serves: the mux, each request under its
// deadline (Options.RequestTimeout) unless its path is exempt, counted and
// timed by method, route pattern and code (smsfleet_http_requests_total,
// smsfleet_http_request_duration_seconds).
func (r *Role) Handler() http.Handler {
	return metrics.InstrumentHTTP(r.withDeadlines(metrics.RecordRoute(r.mux)))
}

// withDeadlines runs h under the request deadline, except on NoDeadline
// paths.
func (r *Role) withDeadlines(h http.Handler) http.Handler {
	limited := Deadline(r.opts.RequestTimeout, h)
	if len(r.opts.NoDeadline) == 0 {
		return limited
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		for _, p := range r.opts.NoDeadline {
			if strings.HasPrefix(req.URL.Path, p) {
				// Exempt paths outlast the request deadline (the
				// simulator's latency faults wait up to 60 s): give them
				// twice the write timeout, still bounded.
				if wt := r.opts.Limits.WriteTimeout; wt > 0 {
					_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * wt))
				}
				h.ServeHTTP(w, req)
				return
			}
		}
		limited.ServeHTTP(w, req)
	})
}

func (r *Role) ready(w http.ResponseWriter, req *http.Request) {
	if r.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), checkTimeout)
	defer cancel()
	for _, c := range r.opts.Checks {
		if err := c.Check(ctx); err != nil {
			// The detail (an address, a broker list) is for the log only:
			// /readyz is often reachable from outside.
			r.opts.Log.Warn("not ready", zap.String("dependency", c.Name), zap.Error(err))
			http.Error(w, c.Name+": unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Serve serves on ln until ctx is done or the listener fails, then shuts
// down within the grace period. It returns nil after a shutdown asked for
// by ctx.
func (r *Role) Serve(ctx context.Context, ln net.Listener) error {
	lim := r.opts.Limits
	srv := &http.Server{
		Handler:           r.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
	if lim.ReadTimeout > 0 && lim.ReadTimeout < readHeaderTimeout {
		srv.ReadHeaderTimeout = lim.ReadTimeout
	}
	if lim.MaxConns > 0 {
		ln = netutil.LimitListener(ln, lim.MaxConns)
	}
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
