package simulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/worker/provider"
)

func TestSimulatorOutcomesAndIdempotency(t *testing.T) {
	sim := simulator.New("sim", 0)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	client := provider.NewSimulator("sim", srv.URL+"/simulator", nil)
	ctx := context.Background()

	tests := []struct {
		name    string
		req     provider.Request
		class   provider.Class
		wantErr bool
	}{
		{"accepted", provider.Request{ID: "m.1", To: "+4915112000002", Text: "a"}, 0, false},
		{"0001 is rejected permanently", provider.Request{ID: "m.2", To: "+4915112340001", Text: "b"}, provider.Permanent, true},
		{"0004 fails once", provider.Request{ID: "m.3", To: "+4915112340004", Text: "c"}, provider.Transient, true},
		{"0004 then succeeds", provider.Request{ID: "m.3", To: "+4915112340004", Text: "c"}, 0, false},
		{"a retried id is the same SMS", provider.Request{ID: "m.1", To: "+4915112000002", Text: "a"}, 0, false},
	}
	refs := map[string]string{}
	for _, tt := range tests {
		res, err := client.Send(ctx, tt.req)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: err %v", tt.name, err)
		}
		if err != nil {
			if provider.ClassOf(err) != tt.class {
				t.Fatalf("%s: class %s, want %s (%v)", tt.name, provider.ClassOf(err), tt.class, err)
			}
			continue
		}
		if prev, ok := refs[tt.req.ID]; ok && prev != res.Ref {
			t.Fatalf("%s: ref %s, first ref %s", tt.name, res.Ref, prev)
		}
		refs[tt.req.ID] = res.Ref
	}
	if sim.Count() != 2 {
		t.Fatalf("simulator recorded %d SMS, want 2", sim.Count())
	}

	resp, err := http.Get(srv.URL + "/simulator/messages?to=%2B4915112340004&limit=5")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Messages []simulator.Received }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Messages) != 1 || list.Messages[0].Text != "c" || list.Messages[0].Provider != "sim" || time.Since(list.Messages[0].ReceivedAt) > time.Minute {
		t.Fatalf("filtered list %+v", list.Messages)
	}
	if all := sim.Messages("", 10); all[0].ID != "m.3" {
		t.Fatalf("not newest first: %+v", all)
	}
	bad, _ := http.Get(srv.URL + "/simulator/messages?limit=zero")
	if bad.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad limit: HTTP %d", bad.StatusCode)
	}
	bad.Body.Close()
}

func TestProviderErrorClasses(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   provider.Class
	}{
		{http.StatusTooManyRequests, `{"error":"slow down"}`, provider.Throttled},
		{http.StatusInternalServerError, ``, provider.Transient},
		{http.StatusBadGateway, `not json`, provider.Transient},
		{http.StatusBadRequest, `{"error":"bad number","code":"21211"}`, provider.Permanent},
		{http.StatusUnauthorized, `{}`, provider.Permanent},
		{http.StatusCreated, `{}`, provider.Transient}, // accepted without a reference: cannot be tracked, retry
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(tt.body))
		}))
		_, err := provider.NewSimulator("p", srv.URL, nil).Send(context.Background(), provider.Request{ID: "x", To: "+4915112000002"})
		srv.Close()
		if err == nil || provider.ClassOf(err) != tt.want {
			t.Errorf("HTTP %d %s: %v (class %v), want %s", tt.status, tt.body, err, provider.ClassOf(err), tt.want)
		}
	}
	// A dead endpoint is transient too.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if _, err := provider.NewSimulator("p", url, nil).Send(context.Background(), provider.Request{ID: "x", To: "+1"}); provider.ClassOf(err) != provider.Transient {
		t.Errorf("connection refused: %v", err)
	}
}
