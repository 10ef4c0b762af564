package intake

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// getMsgStats starts a statistics request, as Pushwoosh does; the numbers
// come from getResults with the returned request_id.
func (a *API) getMsgStats(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	m, err := a.lookupMessage(ctx, app, raw)
	if err != nil {
		return nil, err
	}
	id, err := sms.NewRequestID()
	if err != nil {
		return nil, err
	}
	if err := a.Store.SaveStatsRequest(ctx, id, app, m.Code); err != nil {
		return nil, err
	}
	return map[string]string{"request_id": id}, nil
}

// resultRow is one row of getResults. Pushwoosh writes count as a string
// ("count": "3", getMsgStats's scheduled response,
// https://docs.pushwoosh.com/developer/api-reference/statistics-api/statistics-api-v1),
// and clients written against it parse a string.
type resultRow struct {
	Datetime string `json:"datetime"`
	Action   string `json:"action"`
	Count    int64  `json:"count,string"`
}

// getResults answers a getMsgStats request: Pushwoosh's hourly rows plus an
// "smsfleet" extension with the count of SMS in every status.
func (a *API) getResults(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	var req struct {
		RequestID string `json:"request_id"`
	}
	if err := decodeArgs(raw, &req, ""); err != nil {
		return nil, err
	}
	if req.RequestID == "" {
		return nil, argError("request_id", "required (from getMsgStats)")
	}
	code, err := a.Store.StatsRequest(ctx, app, req.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, argError("request_id", "unknown or expired request id %q", req.RequestID)
	}
	if err != nil {
		return nil, err
	}
	m, err := a.Store.GetMessage(ctx, app, code)
	if errors.Is(err, store.ErrNotFound) {
		return nil, argError("request_id", "the message of request %q no longer exists", req.RequestID)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"formatter": "hourly",
		"rows":      hourlyRows(m),
		"smsfleet":  map[string]any{"message": m.Code, "recipients": m.Recipients, "statuses": statusCounts(m)},
	}, nil
}

// hourlyRows turns the message's hourly counters into Pushwoosh rows,
// oldest hour first. "send" counts SMS handed to a provider, "delivery"
// those with a delivery receipt; smsfleet has no conversion tracking for
// SMS, so "conversion" is reported as zero for each hour with activity.
func hourlyRows(m store.Message) []resultRow {
	rows := []resultRow{}
	for _, h := range hoursOf(m) {
		t, err := time.Parse("2006010215", h)
		if err != nil {
			continue
		}
		dt := t.Format("2006-01-02 15:04:05")
		for _, action := range []string{"send", "delivery", "conversion"} {
			rows = append(rows, resultRow{Datetime: dt, Action: action, Count: m.Hourly[action][h]})
		}
	}
	return rows
}

// hoursOf is every UTC hour (YYYYMMDDHH) with a counter of m, oldest
// first.
func hoursOf(m store.Message) []string {
	hours := map[string]bool{}
	for _, byHour := range m.Hourly {
		for h := range byHour {
			hours[h] = true
		}
	}
	sorted := make([]string, 0, len(hours))
	for h := range hours {
		sorted = append(sorted, h)
	}
	sort.Strings(sorted)
	return sorted
}

// statusCounts reports every status, zeros included, so clients can rely
// on the keys.
func statusCounts(m store.Message) map[string]int64 {
	out := make(map[string]int64, len(sms.AllStatuses))
	for _, st := range sms.AllStatuses {
		out[string(st)] = m.Counts[st]
	}
	return out
}
