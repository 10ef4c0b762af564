package simulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// TestStatsCountsByPrefixAndSince: GET /simulator/stats counts the SMS of
// a load test (its number prefix, since its start) with their arrival
// times, and refuses bad parameters naming them.
func TestStatsCountsByPrefixAndSince(t *testing.T) {
	_, base := start(t, "sim")
	ctx := context.Background()
	send := func(prov, id, to string) {
		t.Helper()
		c := provider.NewSimulator(prov, base+"/simulator", nil)
		if _, err := c.Send(ctx, provider.Request{ID: id, To: to, From: "Shop", Text: "x"}); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	send("sim", "old", "+4915199000010")
	// The simulator stamps arrivals with the wall clock; the boundary is
	// taken between two sends rather than guessed.
	var mid simulator.Stats
	getJSON(t, base+"/simulator/stats", http.StatusOK, &mid)
	since := mid.Last.Add(time.Nanosecond)
	for i := range 3 {
		send("sim", fmt.Sprintf("a%d", i), fmt.Sprintf("+49151770000%02d", 10+i))
	}
	send("other", "b0", "+4915188000010")

	tests := []struct {
		name          string
		query         url.Values
		held, matched int
		arrivals      int
	}{
		{"everything", nil, 5, 5, 0},
		{"since the boundary", url.Values{"since": {since.Format(time.RFC3339Nano)}}, 5, 4, 0},
		{"prefix", url.Values{"prefix": {"+4915177"}}, 5, 3, 0},
		{"prefix and since, with arrivals", url.Values{"prefix": {"+49151"}, "since": {since.Format(time.RFC3339Nano)}, "arrivals": {"true"}}, 5, 4, 4},
		{"arrivals limited", url.Values{"prefix": {"+4915177"}, "arrivals": {"true"}, "limit": {"2"}}, 5, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st simulator.Stats
			getJSON(t, base+"/simulator/stats?"+tt.query.Encode(), http.StatusOK, &st)
			if st.Held != tt.held || st.Matched != tt.matched || len(st.Arrivals) != tt.arrivals {
				t.Fatalf("held %d matched %d arrivals %d, want %d %d %d", st.Held, st.Matched, len(st.Arrivals), tt.held, tt.matched, tt.arrivals)
			}
			if st.Providers["sim"] != 4 || st.Providers["other"] != 1 {
				t.Fatalf("providers %v", st.Providers)
			}
			if st.First == nil || st.Last == nil || st.Last.Before(*st.First) {
				t.Fatalf("first %v last %v", st.First, st.Last)
			}
			for i := 1; i < len(st.Arrivals); i++ {
				if st.Arrivals[i].At.After(st.Arrivals[i-1].At) {
					t.Fatalf("arrivals not newest first: %v", st.Arrivals)
				}
			}
		})
	}

	bad := []struct{ query, field string }{
		{"since=yesterday", "since"},
		{"arrivals=yes", "arrivals"},
		{"arrivals=true&limit=0", "limit"},
		{"arrivals=true&limit=2000000", "limit"},
	}
	for _, b := range bad {
		resp, err := http.Get(base + "/simulator/stats?" + b.query)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || len(e.Error) < len(b.field) || e.Error[:len(b.field)] != b.field {
			t.Errorf("%s: HTTP %d %q, want 400 naming %s", b.query, resp.StatusCode, e.Error, b.field)
		}
	}
}
