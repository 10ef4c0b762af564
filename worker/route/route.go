// Package route decides which providers an SMS goes through, in which
// order, and guards each provider with a circuit breaker
// (docs/decisions.md#5 and #6).
package route

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers/v2"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// ErrOpen is returned by Member.Send when the provider's breaker refuses
// the call: the next provider of the route should take it at once.
var ErrOpen = errors.New("breaker open")

// Member is a provider behind its breaker.
type Member struct {
	provider.Provider
	cb *gobreaker.CircuitBreaker[provider.Result]
}

// Send calls the provider through its breaker. Only transient failures
// count against the provider: a throttle or a permanent rejection says
// nothing about its health, so they are excluded from the window.
func (m *Member) Send(ctx context.Context, req provider.Request) (provider.Result, error) {
	if m.cb == nil {
		return m.timed(ctx, req)
	}
	res, err := m.cb.Execute(func() (provider.Result, error) { return m.timed(ctx, req) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return res, ErrOpen
	}
	return res, err
}

// timed calls the provider and observes how long it took and how it ended.
func (m *Member) timed(ctx context.Context, req provider.Request) (provider.Result, error) {
	start := time.Now()
	res, err := m.Provider.Send(ctx, req)
	result := "ok"
	switch {
	case err == nil:
	case provider.IsAmbiguous(err):
		result = "ambiguous"
	default:
		result = provider.ClassOf(err).String()
	}
	metrics.ProviderLatency.WithLabelValues(m.Name(), result).Observe(time.Since(start).Seconds())
	return res, err
}

// Open reports whether the breaker refuses calls now.
func (m *Member) Open() bool { return m.cb != nil && m.cb.State() == gobreaker.StateOpen }

// Closed reports whether the provider is believed healthy: its breaker is
// closed (or it has none). Only a call through a closed breaker may use
// one of an SMS's attempts; a call through a half-open breaker is a probe.
func (m *Member) Closed() bool { return m.cb == nil || m.cb.State() == gobreaker.StateClosed }

// State is the breaker's state: "closed", "half-open" or "open".
func (m *Member) State() string {
	if m.cb == nil {
		return "closed"
	}
	return m.cb.State().String()
}

// Router holds every provider of a process with its breaker, and the
// routes.
type Router struct {
	members map[string]*Member
	order   []string
	def     config.Route
	routeOf func(app string) config.Route
	// ctl is the operator's live control and the delivery quality
	// (control.go); nil: the configuration alone decides.
	ctl Control
}

// New builds a router. With breakers false the providers are called bare
// (benchmarks measure the breaker's cost that way). routeOf returns an
// application's route; a route with no providers means every provider in
// the order given.
func New(providers []provider.Provider, routeOf func(app string) config.Route, b config.Breaker, breakers bool, log *zap.Logger) *Router {
	r := &Router{members: map[string]*Member{}, routeOf: routeOf}
	for _, p := range providers {
		m := &Member{Provider: p}
		if breakers {
			m.cb = gobreaker.NewCircuitBreaker[provider.Result](settings(p.Name(), b, log))
			metrics.BreakerState.WithLabelValues(p.Name()).Set(0)
		}
		r.members[p.Name()] = m
		r.order = append(r.order, p.Name())
	}
	r.def = config.Route{Providers: r.order}
	return r
}

func settings(name string, b config.Breaker, log *zap.Logger) gobreaker.Settings {
	return gobreaker.Settings{
		Name:         name,
		MaxRequests:  b.Probes,
		Interval:     b.Window,
		BucketPeriod: b.Window / 10, // a rolling window of ten buckets
		Timeout:      b.OpenTimeout,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return readyToTrip(b, c) },
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded: func(err error) bool {
			c := provider.ClassOf(err)
			return c == provider.Permanent || c == provider.Throttled
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			metrics.BreakerState.WithLabelValues(name).Set(breakerValue(to))
			log.Warn("provider breaker changed state", zap.String("provider", name), zap.String("from", from.String()), zap.String("to", to.String()))
		},
	}
}

// readyToTrip opens the breaker on b.ConsecutiveFailures transient
// failures in a row (any traffic: an outage is seen within that many
// calls, however much success the window holds), or when the window's
// share of failures reaches b.FailureRatio over at least b.MinRequests
// calls (a provider failing often but not always). docs/decisions.md#17.
func readyToTrip(b config.Breaker, c gobreaker.Counts) bool {
	if b.ConsecutiveFailures > 0 && c.ConsecutiveFailures >= b.ConsecutiveFailures {
		return true
	}
	return c.Requests >= b.MinRequests && float64(c.TotalFailures) >= b.FailureRatio*float64(c.Requests)
}

// Member returns the named provider, or nil.
func (r *Router) Member(name string) *Member { return r.members[name] }

// Members returns every provider in configuration order.
func (r *Router) Members() []*Member {
	out := make([]*Member, len(r.order))
	for i, n := range r.order {
		out[i] = r.members[n]
	}
	return out
}

// AnyOpen reports whether some provider's breaker is open: the worker
// then judges availability before taking an SMS, so an SMS no provider can
// take stays queued.
func (r *Router) AnyOpen() bool {
	for _, m := range r.members {
		if m.Open() {
			return true
		}
	}
	return false
}

// Candidates returns the providers to try for an SMS of app to phone, in
// order: the route's (or a matching override's) list, with the first
// choice drawn by weight among the healthy ones when weights are set.
// sticky, when not empty, goes first: a previous attempt there may have
// been accepted, and only the same provider can recognise the retry as a
// duplicate.
func (r *Router) Candidates(app, phone, sticky string) []*Member {
	rt := r.def
	if r.routeOf != nil {
		if own := r.routeOf(app); len(own.Providers) > 0 {
			rt = own
		}
	}
	names := rt.Providers
	if o := override(rt.Overrides, phone); o != nil {
		names = o
	}
	names = r.undrained(names)
	country := ""
	if r.ctl != nil {
		country = CountryOf(phone)
	}
	if w := r.effectiveWeights(names, rt.Weights, country); len(w) > 0 {
		r.weighted(names, w)
	} else {
		r.demoted(names, country)
	}
	if sticky != "" {
		for i, n := range names {
			if n == sticky {
				copy(names[1:i+1], names[:i])
				names[0] = sticky
				break
			}
		}
	}
	out := make([]*Member, 0, len(names))
	for _, n := range names {
		if m := r.members[n]; m != nil {
			out = append(out, m)
		}
	}
	return out
}

// weighted moves a healthy provider, drawn by weight, to the front.
func (r *Router) weighted(names []string, weights map[string]float64) {
	total := 0.0
	for _, n := range names {
		if m := r.members[n]; m != nil && !m.Open() {
			total += weights[n]
		}
	}
	if total <= 0 {
		return
	}
	pick := rand.Float64() * total
	for i, n := range names {
		if m := r.members[n]; m == nil || m.Open() || weights[n] <= 0 {
			continue
		}
		if pick -= weights[n]; pick < 0 {
			copy(names[1:i+1], names[:i])
			names[0] = n
			return
		}
	}
}

// override finds the providers for phone: the longest matching number
// prefix, else its country.
func override(overrides map[string][]string, phone string) []string {
	if len(overrides) == 0 {
		return nil
	}
	prefixes := make([]string, 0, len(overrides))
	for k := range overrides {
		if strings.HasPrefix(k, "+") {
			prefixes = append(prefixes, k)
		}
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	for _, p := range prefixes {
		if strings.HasPrefix(phone, p) {
			return overrides[p]
		}
	}
	if num, err := phonenumbers.Parse(phone, ""); err == nil {
		if list, ok := overrides[phonenumbers.GetRegionCodeForNumber(num)]; ok {
			return list
		}
	}
	return nil
}

// breakerValue is the smsfleet_breaker_state value of a state: 0 closed,
// 1 half-open, 2 open (so "== 2" alerts and max() is the worst).
func breakerValue(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}
