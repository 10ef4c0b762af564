// Package monitor serves the Asynq web monitor (asynqmon) over the fleet's
// Redis for on-call: the lanes with their pending, scheduled, retry and
// archived tasks, each task's payload shown as the SMS it sends (masked
// phone, status, provider, attempts), plus a Prometheus registry with
// asynq's queue collector.
//
// asynqmon has no authentication of its own, so the handler puts HTTP basic
// auth in front of it (SMSFLEET_MONITOR_AUTH=basic, the default) unless the
// operator runs it behind an authenticating proxy (none). It is read-only by
// default: asynqmon hides its actions, and the handler also refuses every
// request but GET and HEAD with 403 (defence in depth).
package monitor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// DefaultRootPath is where the monitor is mounted unless Options say
// otherwise (`smsfleet monitor` and dev both use it).
const DefaultRootPath = "/monitoring"

// Realm is the basic-auth realm browsers show in their login prompt.
const Realm = "smsfleet monitor"

// Options configure a Monitor.
type Options struct {
	// Config is SMSFLEET_MONITOR_*: auth, user, password, read-only.
	Config config.Monitor
	// Redis is the fleet's Redis (required). The monitor shares it and
	// never closes it: the caller does.
	Redis redis.UniversalClient
	// RootPath is the URL path of the monitor's home page, without a
	// trailing slash; empty: DefaultRootPath.
	RootPath string
	// Shards is how many queues each lane has (SMSFLEET_LANE_SHARDS).
	// Every queue of every lane is registered in asynq's queue set at
	// start, so the monitor lists (and the queue metrics cover) every
	// shard, even one no task was ever enqueued on.
	Shards sms.Shards
	// Guard counts, logs and throttles wrong credentials (nil: one that
	// counts and logs but never throttles).
	Guard *authguard.Guard
	Log   *zap.Logger
}

// Monitor is the web monitor and its metrics.
type Monitor struct {
	handler   http.Handler
	inspector *asynq.Inspector
	registry  *prometheus.Registry
	rootPath  string
	// authn puts the monitor's authentication in front of a handler (the
	// UI's and the metrics').
	authn func(http.Handler) http.Handler
}

// CheckConfig reports a monitor configuration that cannot be served: basic
// auth without a password (or user).
func CheckConfig(c config.Monitor) error {
	switch c.Auth {
	case "basic":
		if c.Password == "" {
			return errors.New("monitor: SMSFLEET_MONITOR_PASSWORD is empty: set it (basic auth is on), " +
				"or set SMSFLEET_MONITOR_AUTH=none only when an authenticating proxy is in front of the monitor")
		}
		if c.User == "" {
			return errors.New("monitor: SMSFLEET_MONITOR_USER is empty: basic auth needs a user name")
		}
	case "none":
	default:
		return fmt.Errorf("monitor: SMSFLEET_MONITOR_AUTH must be basic or none, got %q", c.Auth)
	}
	return nil
}

// New builds the monitor. It checks the configuration and registers the
// lanes in asynq's queue set (an idempotent SADD, what asynq itself does on
// the first enqueue of a queue).
func New(ctx context.Context, o Options) (*Monitor, error) {
	if err := CheckConfig(o.Config); err != nil {
		return nil, err
	}
	if o.Redis == nil {
		return nil, errors.New("monitor: no Redis client")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	root := strings.TrimSuffix(o.RootPath, "/")
	if o.RootPath == "" {
		root = DefaultRootPath
	}
	if root != "" && !strings.HasPrefix(root, "/") {
		return nil, fmt.Errorf("monitor: root path %q must start with /", o.RootPath)
	}
	if err := RegisterLanes(ctx, o.Redis, o.Shards.AllQueues()); err != nil {
		return nil, err
	}
	// The formatter reads messages in the key layout the fleet recorded
	// (the monitor has no partitions setting of its own).
	layout, err := store.RecordedLayout(ctx, o.Redis)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	ui := asynqmon.New(asynqmon.Options{
		RootPath:         root,
		RedisConnOpt:     sharedClient{o.Redis},
		PayloadFormatter: NewFormatter(o.Redis, store.WithLayout(layout)),
		ResultFormatter:  resultFormatter,
		ReadOnly:         o.Config.ReadOnly,
	})
	// ui.Close would close the shared client: it is never called.
	var h http.Handler = maskErrors(ui)
	if o.Config.ReadOnly {
		h = readOnly(h)
	} else {
		// Actions are on: a page on another site must not drive them with
		// the browser's cached basic-auth credentials.
		h = http.NewCrossOriginProtection().Handler(h)
	}
	if o.Guard == nil {
		o.Guard = authguard.New(authguard.Options{Surface: "monitor", Log: o.Log})
	}
	authn := func(h http.Handler) http.Handler { return h }
	if o.Config.Auth == "basic" {
		authn = func(h http.Handler) http.Handler { return basicAuth(o.Config.User, o.Config.Password, o.Guard, h) }
	}
	insp := asynq.NewInspectorFromRedisClient(o.Redis)
	o.Log.Info("asynq monitor ready", zap.String("path", root+"/"), zap.String("auth", o.Config.Auth), zap.Bool("read_only", o.Config.ReadOnly))
	return &Monitor{handler: securityHeaders(authn(h)), inspector: insp, registry: NewRegistry(insp), rootPath: root, authn: authn}, nil
}

// Handler serves the monitor under its root path; mount it at RootPath()+"/".
func (m *Monitor) Handler() http.Handler { return m.handler }

// RootPath is the monitor's root path, without a trailing slash.
func (m *Monitor) RootPath() string { return m.rootPath }

// Registry is the Prometheus registry with asynq's queue collector and the
// Go and process collectors.
func (m *Monitor) Registry() *prometheus.Registry { return m.registry }

// MetricsHandler serves Registry in the Prometheus text format, behind
// the monitor's own authentication: queue names, sizes and latencies are
// on-call's, not the network's (issue 13, item 10). Prometheus scrapes it
// with the monitor's basic-auth credentials (the chart's ServiceMonitor
// does).
func (m *Monitor) MetricsHandler() http.Handler { return m.authn(MetricsHandler(m.registry)) }

// asynqQueues is asynq's set of queue names (github.com/hibiken/asynq
// internal/base.AllQueues): asynqmon and the queue collector list it.
const asynqQueues = "asynq:queues"

// RegisterLanes adds the lanes' queues to asynq's queue set, so the
// monitor and the queue metrics show a lane's shard before its first task
// (asynq adds a queue only when a task is enqueued on it).
func RegisterLanes(ctx context.Context, rdb redis.UniversalClient, queues []string) error {
	if len(queues) == 0 {
		return nil
	}
	members := make([]any, len(queues))
	for i, q := range queues {
		members[i] = q
	}
	if err := rdb.SAdd(ctx, asynqQueues, members...).Err(); err != nil {
		return fmt.Errorf("monitor: register lanes: %w", err)
	}
	return nil
}

// sharedClient is an asynq.RedisConnOpt that hands asynqmon the fleet's
// client instead of a new pool per handler.
type sharedClient struct{ c redis.UniversalClient }

func (s sharedClient) MakeRedisClient() any { return s.c }

// basicAuth lets through requests carrying user and password; it compares
// fixed-length digests in constant time, so neither the length nor a
// prefix of the secret leaks through timing. Each refusal is counted and
// logged by guard (never the user or password sent), and a source that
// keeps failing gets 429 before its credentials are compared.
func basicAuth(user, password string, guard *authguard.Guard, next http.Handler) http.Handler {
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	challenge := fmt.Sprintf("Basic realm=%q, charset=\"UTF-8\"", Realm)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wait, throttled := guard.Throttled(r); throttled {
			secs := authguard.RetryAfterSeconds(wait)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			http.Error(w, fmt.Sprintf("429 too many requests: too many failed logins from this address, retry after %d seconds", secs), http.StatusTooManyRequests)
			return
		}
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			reason := authguard.WrongPassword
			if !ok {
				reason = authguard.Missing
			}
			guard.Fail(r, reason, "")
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, "401 unauthorized: the monitor needs SMSFLEET_MONITOR_USER and SMSFLEET_MONITOR_PASSWORD", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readOnly refuses every request that could change a queue: anything but
// GET and HEAD. asynqmon's own ReadOnly does the same for its API (with
// 405); this holds even if a later asynqmon adds a route outside it.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "403 forbidden: the monitor is read-only (SMSFLEET_MONITOR_READ_ONLY=true)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// maskErrors masks phone numbers in the task errors asynqmon shows
// ("error_message": a provider's error may quote the number). Only the
// API's task listings are rewritten; everything else streams through.
func maskErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/api/") || !strings.Contains(r.URL.Path, "tasks") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedWriter{header: w.Header(), status: http.StatusOK}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		var v any
		if rec.status == http.StatusOK && json.Unmarshal(body, &v) == nil && maskIn(v) {
			if b, err := json.Marshal(v); err == nil {
				body = append(b, '\n')
				w.Header().Set("Content-Type", "application/json")
			}
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

// maskIn masks every "error_message" string in v and reports whether it
// changed one.
func maskIn(v any) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if s, ok := e.(string); ok && k == "error_message" {
				if m := sms.MaskPhonesIn(s); m != s {
					t[k], changed = m, true
				}
				continue
			}
			changed = maskIn(e) || changed
		}
	case []any:
		for _, e := range t {
			changed = maskIn(e) || changed
		}
	}
	return changed
}

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
