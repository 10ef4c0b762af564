package metrics

import (
	"context"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTP request metrics of every role's listener (internal/httprole), by
// method, route and status code. route is the ServeMux pattern that served
// the request, without its method ("/api/v1/messages/{code}"), never the
// raw path: a path holds message codes and phones, and would make one
// series per message. Requests no pattern matched (404, 405) are
// route="unmatched"; methods outside the standard ones are "unknown"
// (promhttp), so every label is a bounded set.
var (
	HTTPRequests = counterVec("smsfleet_http_requests_total",
		"HTTP requests served, by method, route (the ServeMux pattern, not the path) and status code.",
		"method", "route", "code")
	HTTPDuration = histogramVec("smsfleet_http_request_duration_seconds",
		"Time to serve HTTP requests, from the handler's start to its return, by method, route (the ServeMux pattern) and status code.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "method", "route", "code")
)

// HTTPCollectors are the HTTP request metrics, for a registry other than
// Registry (the monitor role serves its own).
func HTTPCollectors() []prometheus.Collector {
	return []prometheus.Collector{HTTPRequests, HTTPDuration}
}

// RouteUnmatched is the route of a request no pattern matched.
const RouteUnmatched = "unmatched"

// routeKey keys the route holder in a request's context.
type routeKey struct{}

// routeHolder carries the pattern out of the mux to the instrumentation
// around it: the request the mux sees is a copy (a deadline's context was
// added between them), so the outer request never has the Pattern.
type routeHolder struct{ pattern string }

// InstrumentHTTP counts and times every request through h, which must
// record its route with RecordRoute (h is the mux wrapped in whatever
// runs between; RecordRoute must be the innermost wrapper).
func InstrumentHTTP(h http.Handler) http.Handler {
	route := promhttp.WithLabelFromCtx("route", routeFromContext)
	counted := promhttp.InstrumentHandlerCounter(HTTPRequests, promhttp.InstrumentHandlerDuration(HTTPDuration, h, route), route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counted.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &routeHolder{})))
	})
}

// RecordRoute serves mux and records the pattern it chose for
// InstrumentHTTP. ServeMux sets Request.Pattern on the request it is given
// before calling the handler, so it is there once ServeHTTP returns.
func RecordRoute(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, _ := r.Context().Value(routeKey{}).(*routeHolder)
		mux.ServeHTTP(w, r)
		if h != nil {
			h.pattern = r.Pattern
		}
	})
}

func routeFromContext(ctx context.Context) string {
	h, _ := ctx.Value(routeKey{}).(*routeHolder)
	if h == nil {
		return RouteUnmatched
	}
	return RouteOf(h.pattern)
}

// RouteOf turns a ServeMux pattern into the route label: the pattern
// without its method and host ("GET /api/v1/messages/{code}" →
// "/api/v1/messages/{code}"; the method has its own label), or
// RouteUnmatched for none.
func RouteOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // a host-specific pattern: its host is not a route
	}
	if pattern == "" {
		return RouteUnmatched
	}
	return pattern
}
