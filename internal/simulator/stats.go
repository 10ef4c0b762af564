package simulator

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Stats is the answer of GET /simulator/stats: how many SMS the simulator
// holds, and how many of them match a filter with when they arrived. Load
// tests (`smsfleet bench`) poll it instead of listing every message.
type Stats struct {
	// Held is how many accepted SMS the simulator holds (at most its cap).
	Held int `json:"held"`
	// Providers is how many of them each provider accepted.
	Providers map[string]int `json:"providers"`
	// Matched is how many held SMS arrived at or after since and go to a
	// number starting with prefix (both optional).
	Matched int `json:"matched"`
	// First and Last are the earliest and latest arrival among Matched
	// (absent when nothing matched).
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
	// Arrivals are the matched SMS's numbers and arrival times, newest
	// first, at most limit of them; only with arrivals=true.
	Arrivals []Arrival `json:"arrivals,omitempty"`
}

// Arrival is when one SMS reached the simulator.
type Arrival struct {
	To string    `json:"to"`
	At time.Time `json:"at"`
}

// Bounds of GET /simulator/stats's arrivals list: large enough for one
// bulk message of a load test, bounded so one request cannot copy the
// whole store.
const (
	defaultArrivals = 100_000
	maxArrivals     = 1_000_000
)

// StatsFilter selects the SMS that Stats counts.
type StatsFilter struct {
	// Since keeps SMS that arrived at or after it (zero: all held).
	Since time.Time
	// Prefix keeps SMS whose To starts with it (empty: all).
	Prefix string
	// Arrivals is how many arrival times to return (0: none).
	Arrivals int
}

// Stats counts what the simulator holds. It scans only the SMS that
// arrived since f.Since (they are held in arrival order), so a load test
// that polls it with its start time costs its own messages, not the
// simulator's whole history.
func (s *Simulator) Stats(f StatsFilter) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Held: len(s.received), Providers: make(map[string]int, len(s.providers))}
	for name, a := range s.providers {
		st.Providers[name] = a.count
	}
	if f.Arrivals > 0 {
		st.Arrivals = make([]Arrival, 0, min(f.Arrivals, 1024))
	}
	for i := len(s.received) - 1; i >= 0; i-- {
		m := &s.received[i]
		if m.ReceivedAt.Before(f.Since) {
			break
		}
		if !strings.HasPrefix(m.To, f.Prefix) {
			continue
		}
		st.Matched++
		at := m.ReceivedAt
		if st.Last == nil {
			st.Last = &at
		}
		st.First = &at
		if len(st.Arrivals) < f.Arrivals {
			st.Arrivals = append(st.Arrivals, Arrival{To: m.To, At: at})
		}
	}
	return st
}

// stats serves GET /simulator/stats?since=&prefix=&arrivals=&limit=.
func (s *Simulator) stats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f StatsFilter
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "since must be an RFC 3339 time, e.g. 2025-01-02T15:04:05.123Z"})
			return
		}
		f.Since = t
	}
	f.Prefix = q.Get("prefix")
	switch v := q.Get("arrivals"); v {
	case "", "false":
	case "true":
		f.Arrivals = defaultArrivals
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "arrivals must be true or false"})
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxArrivals {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be an integer from 1 to " + strconv.Itoa(maxArrivals)})
			return
		}
		if f.Arrivals > 0 {
			f.Arrivals = n
		}
	}
	writeJSON(w, http.StatusOK, s.Stats(f))
}
