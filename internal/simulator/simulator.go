// Package simulator is a provider simulator: an HTTP server that accepts
// SMS like a provider would and answers with a provider reference. Demos,
// dev mode and end-to-end tests send through it. Its test numbers, by the
// last four digits of the phone:
//
//	0001  rejected permanently (HTTP 400, code 21211, invalid number)
//	0004  one transient HTTP 503 per SMS id, then accepted
//	else  accepted
//
// A repeated Idempotency-Key returns the first reference and is not
// recorded again, so a retried send is never a second SMS.
package simulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Received is one SMS the simulator accepted.
type Received struct {
	key        string    // the idempotency key it was accepted under
	ID         string    `json:"id"`
	Ref        string    `json:"ref"`
	Provider   string    `json:"provider"`
	To         string    `json:"to"`
	From       string    `json:"from"`
	Text       string    `json:"text"`
	ReceivedAt time.Time `json:"received_at"`
}

// Simulator keeps what it accepted in memory, up to a cap (oldest dropped).
type Simulator struct {
	name string
	cap  int

	mu        sync.Mutex
	received  []Received
	byKey     map[string]string // idempotency key -> ref
	failedKey map[string]bool   // 0004 numbers that have had their one 503
}

// New returns a simulator that calls itself name and keeps at most keep
// accepted SMS (0 means 1,000,000).
func New(name string, keep int) *Simulator {
	if keep <= 0 {
		keep = 1_000_000
	}
	return &Simulator{name: name, cap: keep, byKey: map[string]string{}, failedKey: map[string]bool{}}
}

// Handler serves POST and GET /simulator/messages; mount it at
// "/simulator/".
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /simulator/messages", s.accept)
	mux.HandleFunc("GET /simulator/messages", s.list)
	return mux
}

type sendRequest struct {
	ID   string `json:"id"`
	To   string `json:"to"`
	From string `json:"from"`
	Text string `json:"text"`
}

func (s *Simulator) accept(w http.ResponseWriter, r *http.Request) {
	var req sendRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed JSON: " + err.Error()})
		return
	}
	if req.To == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "to is required", "code": "21604"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = req.ID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref, ok := s.byKey[key]; ok && key != "" {
		writeJSON(w, http.StatusOK, map[string]string{"ref": ref, "provider": s.name})
		return
	}
	switch {
	case strings.HasSuffix(req.To, "0001"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid destination number", "code": "21211"})
		return
	case strings.HasSuffix(req.To, "0004") && !s.failedKey[key]:
		s.failedKey[key] = true
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily unavailable", "code": "30001"})
		return
	}
	ref := newRef()
	if key != "" {
		s.byKey[key] = ref
	}
	s.received = append(s.received, Received{
		key: key, ID: req.ID, Ref: ref, Provider: s.name, To: req.To, From: req.From, Text: req.Text, ReceivedAt: time.Now().UTC(),
	})
	if len(s.received) > s.cap {
		drop := s.received[0]
		delete(s.byKey, drop.key)
		delete(s.failedKey, drop.key)
		s.received = s.received[1:]
	}
	writeJSON(w, http.StatusCreated, map[string]string{"ref": ref, "provider": s.name})
}

func (s *Simulator) list(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive integer"})
			return
		}
		limit = n
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": s.Messages(to, limit)})
}

// Messages returns accepted SMS newest first, optionally only those to to.
func (s *Simulator) Messages(to string, limit int) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Received{}
	for i := len(s.received) - 1; i >= 0 && len(out) < limit; i-- {
		if to == "" || s.received[i].To == to {
			out = append(out, s.received[i])
		}
	}
	return out
}

// Count returns how many SMS were accepted.
func (s *Simulator) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.received)
}

func newRef() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "SM" + hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
