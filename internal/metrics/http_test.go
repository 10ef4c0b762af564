package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRouteOf(t *testing.T) {
	for _, c := range []struct{ pattern, want string }{
		{"GET /api/v1/messages/{code}", "/api/v1/messages/{code}"},
		{"POST /json/1.3/{method}", "/json/1.3/{method}"},
		{"/monitoring/", "/monitoring/"},
		{"GET /{$}", "/{$}"},
		{"GET example.com/x", "/x"},
		{"example.com/", "/"},
		{"", RouteUnmatched},
	} {
		if got := RouteOf(c.pattern); got != c.want {
			t.Errorf("RouteOf(%q) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

// TestInstrumentHTTPLabelsByPattern serves a real mux through
// InstrumentHTTP, with a context-copying wrapper between them as the
// roles' deadline is: every request is counted once under its pattern,
// method and code, never its path.
func TestInstrumentHTTPLabelsByPattern(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/messages/{code}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("code") == "missing" {
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("POST /json/1.3/{method}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	type ctxKey struct{}
	copying := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, 1)))
		})
	}
	srv := httptest.NewServer(InstrumentHTTP(copying(RecordRoute(mux))))
	defer srv.Close()

	requests := []struct{ method, path string }{
		{"GET", "/api/v1/messages/A1B2-C3D4"},
		{"GET", "/api/v1/messages/E5F6-0000"},
		{"GET", "/api/v1/messages/missing"},
		{"POST", "/json/1.3/createMessage"},
		{"GET", "/no/such/path/+4915112350005"},
		{"DELETE", "/api/v1/messages/A1B2-C3D4"}, // 405: no pattern either
	}
	before := map[[3]string]float64{}
	want := map[[3]string]float64{
		{"get", "/api/v1/messages/{code}", "200"}: 2,
		{"get", "/api/v1/messages/{code}", "404"}: 1,
		{"post", "/json/1.3/{method}", "202"}:     1,
		{"get", RouteUnmatched, "404"}:            1,
		{"delete", RouteUnmatched, "405"}:         1,
	}
	for k := range want {
		before[k] = testutil.ToFloat64(HTTPRequests.WithLabelValues(k[0], k[1], k[2]))
	}
	for _, r := range requests {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for k, n := range want {
		if got := testutil.ToFloat64(HTTPRequests.WithLabelValues(k[0], k[1], k[2])) - before[k]; got != n {
			t.Errorf("smsfleet_http_requests_total%v rose by %v, want %v", k, got, n)
		}
	}
	// The histogram saw each of them too, under the same labels.
	if n := testutil.CollectAndCount(HTTPDuration); n < len(want) {
		t.Errorf("smsfleet_http_request_duration_seconds has %d series, want at least %d", n, len(want))
	}
	// No label value is a raw path.
	if n, err := testutil.GatherAndCount(Registry, "smsfleet_http_requests_total"); err != nil || n == 0 {
		t.Fatalf("gather: %d %v", n, err)
	}
	mfs, _ := Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "smsfleet_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetValue() {
				case "/api/v1/messages/A1B2-C3D4", "/no/such/path/+4915112350005", "/json/1.3/createMessage":
					t.Errorf("a raw path became a label: %s", l.GetValue())
				}
			}
		}
	}
}
