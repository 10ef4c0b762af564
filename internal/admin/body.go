package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// maxBody bounds an operator request's body: a few fields.
const maxBody = 4096

// fieldError is a refusal naming the field at fault.
type fieldError struct{ field, msg string }

// readObject reads a JSON object whose keys are among allowed: an unknown
// key, malformed JSON, trailing data or a body too large is refused,
// naming the field where there is one.
func readObject(r *http.Request, allowed ...string) (map[string]json.RawMessage, *fieldError) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, &fieldError{"", "could not read the body: " + err.Error()}
	}
	if len(b) > maxBody {
		return nil, &fieldError{"", fmt.Sprintf("body larger than %d bytes", maxBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, &fieldError{"", "malformed JSON: the body must be an object, e.g. {\"" + allowed[0] + "\": ...}"}
	}
	if dec.More() {
		return nil, &fieldError{"", "malformed JSON: trailing data after the object"}
	}
	for k := range m {
		if !slices.Contains(allowed, k) {
			return nil, &fieldError{k, fmt.Sprintf("unknown field %q (allowed: %s)", k, strings.Join(allowed, ", "))}
		}
	}
	return m, nil
}

// intIn decodes an integer within [lo, hi].
func intIn(raw json.RawMessage, lo, hi int) (int, bool) {
	var f float64
	if string(raw) == "null" || json.Unmarshal(raw, &f) != nil || f != float64(int(f)) || f < float64(lo) || f > float64(hi) {
		return 0, false
	}
	return int(f), true
}

// alreadyThere: asynq refuses to pause a paused queue or resume a running
// one; for an operator that is the state asked for.
func alreadyThere(err error) bool {
	s := err.Error()
	return strings.Contains(s, "already paused") || strings.Contains(s, "not paused")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers {"error": msg, "field": field}.
func writeError(w http.ResponseWriter, status int, field, msg string) {
	body := map[string]string{"error": msg}
	if field != "" {
		body["field"] = field
	}
	writeJSON(w, status, body)
}
