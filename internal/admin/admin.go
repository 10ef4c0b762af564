// Package admin is the operator API under /api/v1/admin/ (issue 18):
// drain, undrain and weigh providers, pause and resume lanes and
// applications, read the audit log; and the applications' read-only view
// of their routes, GET /api/v1/routes. Every change goes to Redis through
// internal/traffic, which every pod polls, and is audited.
package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/traffic"
	"github.com/smsfleet/smsfleet/worker"
	"github.com/smsfleet/smsfleet/worker/route"
)

// Options configure the API.
type Options struct {
	// Token is SMSFLEET_ADMIN_TOKEN ("": the operator API answers 503), Who
	// the name changes are audited under.
	Token, Who string
	Store      *traffic.Store
	Watcher    *traffic.Watcher
	// Router is this process's router, when it has the worker role: its
	// breakers' states are shown (they are per process).
	Router *route.Router
	// Inspector pauses and resumes the lanes' asynq queues.
	Inspector *asynq.Inspector
	Shards    sms.Shards
	// Providers are the configured providers' names, in order.
	Providers []string
	// RouteOf is an application's route, DefaultRoute the fleet's.
	RouteOf      func(app string) config.Route
	DefaultRoute config.Route
	Apps         []config.Application
	Unmatched    UnmatchedSource // replies no application matched (inbound.go); nil: 503
	Guard        *authguard.Guard
	Log          *zap.Logger
}

// API serves the operator API.
type API struct {
	o     Options
	known map[string]bool
	apps  map[string]bool
}

// New makes the API.
func New(o Options) *API {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Guard == nil {
		o.Guard = authguard.New(authguard.Options{Surface: "admin", Log: o.Log})
	}
	if o.Who == "" {
		o.Who = "admin"
	}
	a := &API{o: o, known: map[string]bool{}, apps: map[string]bool{}}
	for _, p := range o.Providers {
		a.known[p] = true
	}
	for _, app := range o.Apps {
		a.apps[app.Code] = true
	}
	return a
}

// Register mounts the routes.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/admin/providers", a.operator(a.listProviders))
	mux.Handle("POST /api/v1/admin/providers/{name}", a.operator(a.changeProvider))
	mux.Handle("POST /api/v1/admin/lanes/{lane}", a.operator(a.changeLane))
	mux.Handle("POST /api/v1/admin/applications/{code}", a.operator(a.changeApp))
	mux.Handle("GET /api/v1/admin/audit", a.operator(a.audit))
	a.registerInbound(mux) // GET /api/v1/admin/inbound/unmatched
	mux.Handle("GET /api/v1/routes", a.application(a.routes))
}

// providerView is one provider in GET /api/v1/admin/providers.
type providerView struct {
	Name string `json:"name"`
	// Breaker is this process's breaker state ("" without the worker role:
	// breakers are per process).
	Breaker string `json:"breaker,omitempty"`
	Drained bool   `json:"drained"`
	// ConfiguredWeight is the default route's, OperatorWeight the
	// operator's (replacing it), EffectiveWeight what first choices are
	// drawn by (times the quality factor); nil: none.
	ConfiguredWeight *int            `json:"configured_weight"`
	OperatorWeight   *int            `json:"operator_weight"`
	EffectiveWeight  *float64        `json:"effective_weight"`
	Quality          traffic.Figures `json:"quality"`
}

func (a *API) listProviders(w http.ResponseWriter, r *http.Request) {
	pods, err := a.o.Store.Pods(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	version, err := a.o.Store.Version(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	st := a.o.Watcher.State()
	out := a.providerViews(a.o.DefaultRoute.Weights)
	writeJSON(w, http.StatusOK, map[string]any{
		"version": version, "applied_here": st.Version, "providers": out, "pods": pods,
		"paused_lanes": keys(st.PausedLanes), "paused_applications": keys(st.PausedApps),
	})
}

func (a *API) providerViews(configured map[string]int) []providerView {
	figs := a.o.Watcher.Figures()
	out := make([]providerView, 0, len(a.o.Providers))
	for _, name := range a.o.Providers {
		v := providerView{Name: name, Drained: a.o.Watcher.Drained(name), Quality: figs[name]}
		if c, ok := configured[name]; ok {
			v.ConfiguredWeight = &c
		}
		if ow, ok := a.o.Watcher.Weight(name); ok {
			v.OperatorWeight = &ow
		}
		if a.o.Router != nil {
			if m := a.o.Router.Member(name); m != nil {
				v.Breaker = m.State()
			}
		}
		if ew, ok := effective(name, configured, a.o.Watcher); ok {
			ew = math.Round(ew*100) / 100
			v.EffectiveWeight = &ew
		}
		out = append(out, v)
	}
	return out
}

// effective is route.Router's effective weight, computed from the watcher
// (an API-only process has no router).
func effective(name string, configured map[string]int, wt *traffic.Watcher) (float64, bool) {
	w, ok := configured[name]
	if ow, set := wt.Weight(name); set {
		w, ok = ow, true
	}
	if !ok {
		return 0, false
	}
	return float64(w) * wt.Factor(name, ""), true
}

func keys(m map[string]bool) []string {
	out := []string{}
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	return out
}

// changeProvider answers POST /api/v1/admin/providers/{name}:
// {"drained": bool} and/or {"weight": 0..1000 | null} (null: back to the
// configured weight).
func (a *API) changeProvider(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !a.known[name] {
		writeError(w, http.StatusNotFound, "name", fmt.Sprintf("unknown provider %q", name))
		return
	}
	body, err := readObject(r, "drained", "weight")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.field, err.msg)
		return
	}
	c := traffic.Change{Who: a.o.Who, What: "provider " + name, Set: map[string]string{}}
	if raw, ok := body["drained"]; ok {
		var d bool
		if json.Unmarshal(raw, &d) != nil {
			writeError(w, http.StatusBadRequest, "drained", "drained must be true or false")
			return
		}
		traffic.DrainProvider(&c, name, d)
	}
	if raw, ok := body["weight"]; ok {
		var wt *int
		if string(raw) != "null" {
			n, ok := intIn(raw, 0, traffic.MaxWeight)
			if !ok {
				writeError(w, http.StatusBadRequest, "weight", fmt.Sprintf("weight must be an integer from 0 to %d, or null", traffic.MaxWeight))
				return
			}
			wt = &n
		}
		traffic.WeightProvider(&c, name, wt)
	}
	a.apply(w, r, c)
}

// changeLane answers POST /api/v1/admin/lanes/{lane} {"paused": bool}:
// asynq's own pause of every queue of the lane (each shard, and the
// queues an earlier shard count left), which every worker honours at once.
func (a *API) changeLane(w http.ResponseWriter, r *http.Request) {
	lane := r.PathValue("lane")
	if !isLane(lane) {
		writeError(w, http.StatusNotFound, "lane", fmt.Sprintf("unknown lane %q (one of %v)", lane, sms.Lanes))
		return
	}
	paused, ok := a.pausedBody(w, r)
	if !ok {
		return
	}
	// The queues first, then the record: if the record fails the answer is
	// 500 and the same request, idempotent in both steps, completes it.
	if err := a.pauseQueues(lane, paused); err != nil {
		a.fail(w, err)
		return
	}
	c := traffic.Change{Who: a.o.Who, What: "lane " + lane, Set: map[string]string{}}
	traffic.PauseLane(&c, lane, paused)
	a.apply(w, r, c)
}

// changeApp answers POST /api/v1/admin/applications/{code}
// {"paused": bool}: the application's SMS are deferred while paused.
func (a *API) changeApp(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !a.apps[code] {
		writeError(w, http.StatusNotFound, "code", fmt.Sprintf("unknown application %q", code))
		return
	}
	paused, ok := a.pausedBody(w, r)
	if !ok {
		return
	}
	c := traffic.Change{Who: a.o.Who, What: "application " + code, Set: map[string]string{}}
	traffic.PauseApp(&c, code, paused)
	a.apply(w, r, c)
}

func (a *API) pausedBody(w http.ResponseWriter, r *http.Request) (bool, bool) {
	body, err := readObject(r, "paused")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.field, err.msg)
		return false, false
	}
	raw, ok := body["paused"]
	var p bool
	if !ok || json.Unmarshal(raw, &p) != nil {
		writeError(w, http.StatusBadRequest, "paused", "paused is required: true or false")
		return false, false
	}
	return p, true
}

// apply stores and audits a change and answers with the new version.
func (a *API) apply(w http.ResponseWriter, r *http.Request, c traffic.Change) {
	if len(c.Set) == 0 {
		writeError(w, http.StatusBadRequest, "", "nothing to change: give drained and/or weight")
		return
	}
	v, err := a.o.Store.Apply(r.Context(), c)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.o.Log.Info("operator change", zap.String("who", c.Who), zap.String("what", c.What), zap.Any("set", c.Set), zap.Int64("version", v))
	writeJSON(w, http.StatusOK, map[string]any{"version": v, "what": c.What, "set": c.Set})
}

// audit answers GET /api/v1/admin/audit?limit=n (default 100).
func (a *API) audit(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100_000 {
			writeError(w, http.StatusBadRequest, "limit", "limit must be an integer from 1 to 100000")
			return
		}
		limit = n
	}
	entries, err := a.o.Store.Audit(r.Context(), limit)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

// routes answers GET /api/v1/routes for the calling application: its
// route's providers in order, each with its weights, drain and quality.
func (a *API) routes(w http.ResponseWriter, r *http.Request, app string) {
	rt := a.o.DefaultRoute
	if a.o.RouteOf != nil {
		if own := a.o.RouteOf(app); len(own.Providers) > 0 {
			rt = own
		}
	}
	names := rt.Providers
	if len(names) == 0 {
		names = a.o.Providers
	}
	all := a.providerViews(rt.Weights)
	byName := map[string]providerView{}
	for _, v := range all {
		v.Breaker = "" // a process's own view; not the application's business
		byName[v.Name] = v
	}
	out := make([]providerView, 0, len(names))
	for _, n := range names {
		out = append(out, byName[n])
	}
	writeJSON(w, http.StatusOK, map[string]any{"application": app, "providers": out, "overrides": rt.Overrides, "version": a.o.Watcher.Applied()})
}

// pauseQueues pauses (or resumes) every queue of lane: its shards and the
// queues an earlier SMSFLEET_LANE_SHARDS left, which the workers still
// serve (worker.LaneQueues).
func (a *API) pauseQueues(lane string, paused bool) error {
	lanes, err := worker.LaneQueues(a.o.Inspector, a.o.Shards)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	for _, q := range lanes[lane] {
		var err error
		if paused {
			err = a.o.Inspector.PauseQueue(q)
		} else {
			err = a.o.Inspector.UnpauseQueue(q)
		}
		// Pausing twice (or resuming a running queue) is what was asked.
		if err != nil && !alreadyThere(err) {
			return fmt.Errorf("admin: pause %v queue %s: %w", paused, q, err)
		}
	}
	return nil
}

func isLane(l string) bool {
	for _, x := range sms.Lanes {
		if x == l {
			return true
		}
	}
	return false
}

func (a *API) fail(w http.ResponseWriter, err error) {
	a.o.Log.Warn("operator API", zap.Error(err))
	status := http.StatusInternalServerError
	if err == context.DeadlineExceeded {
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, "", "internal error: "+err.Error())
}

func retryAfter(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }
