package msgquery

import (
	"fmt"
	"time"
)

// TimeBound reads a from or to filter of the reply listings (GET
// /api/v1/inbound, the operator's unmatched replies): a date (a whole UTC
// day: its start for from, its last millisecond for to, so end says
// which) or an RFC 3339 time. Empty is the zero time: no bound.
func TimeBound(raw string, end bool) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, raw); err == nil {
		if end {
			return d.Add(24*time.Hour - time.Millisecond), nil
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a date (YYYY-MM-DD) or an RFC 3339 time, got %q", raw)
	}
	return t.UTC(), nil
}
