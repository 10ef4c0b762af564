package httprole

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smsfleet/smsfleet/internal/metrics"
)

// TestHandlerCountsRequestsByRoute: the role's Handler counts each request
// once under its mux pattern, both under the request deadline (which
// copies the request) and on a NoDeadline path.
func TestHandlerCountsRequestsByRoute(t *testing.T) {
	r := New(Options{RequestTimeout: time.Minute, NoDeadline: []string{"/slow/"}})
	r.Mux().HandleFunc("GET /api/v1/items/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	r.Mux().HandleFunc("/slow/", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for _, c := range []struct {
		path, route, code string
		n                 int
	}{
		{"/api/v1/items/", metrics.RouteUnmatched, "404", 1},
		{"/api/v1/items/42", "/api/v1/items/{id}", "418", 3},
		{"/slow/x", "/slow/", "200", 2},
		{"/readyz", "/readyz", "200", 1},
	} {
		counter := metrics.HTTPRequests.WithLabelValues("get", c.route, c.code)
		before := testutil.ToFloat64(counter)
		for range c.n {
			resp, err := http.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		if got := testutil.ToFloat64(counter) - before; got != float64(c.n) {
			t.Errorf("GET %s: smsfleet_http_requests_total{route=%q,code=%q} rose by %v, want %d", c.path, c.route, c.code, got, c.n)
		}
	}
}
