package intake

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/msgquery"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// inboundView is one reply of GET /api/v1/inbound.
type inboundView struct {
	ID string `json:"id"`
	// From is the phone's number; for an application with hash_numbers
	// it is empty and FromHash is its keyed hash (inbound.PhoneOf).
	From       string    `json:"from,omitempty"`
	FromHash   string    `json:"from_hash,omitempty"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	Keyword    string    `json:"keyword,omitempty"`
	Provider   string    `json:"provider"`
	ReceivedAt time.Time `json:"received_at"`
	// Answer is the message code of the SMS that answered a keyword;
	// AnswerSkipped why a keyword got none (throttled, still_opted_out).
	Answer        string `json:"answer,omitempty"`
	AnswerSkipped string `json:"answer_skipped,omitempty"`
}

// listInbound answers GET /api/v1/inbound: the application's replies from
// phones within the retention, newest first, filtered by phone (any form
// the intake takes, read in the default region), from and to (a date,
// YYYY-MM-DD, as a UTC day, or an RFC 3339 time; both ends included),
// paginated with limit and next_cursor. A bad filter is a 400 naming it.
// An application with hash_numbers gets from_hash instead of from (its
// phone filter still takes a number, which it knows).
func (a *API) listInbound(r *http.Request, app string, p page) (any, int, error) {
	q := r.URL.Query()
	query := store.InboundQuery{Limit: p.limit, Cursor: p.cursor}
	if raw := q.Get("phone"); raw != "" {
		phone, err := sms.NormalizePhone(raw, a.DefaultRegion)
		if err != nil {
			return nil, 0, httpError(http.StatusBadRequest, "phone: %v", err)
		}
		query.Phone = phone
	}
	var err error
	if query.From, err = inboundTime(q, "from", false); err != nil {
		return nil, 0, err
	}
	if query.To, err = inboundTime(q, "to", true); err != nil {
		return nil, 0, err
	}
	if !query.From.IsZero() && !query.To.IsZero() && query.To.Before(query.From) {
		return nil, 0, httpError(http.StatusBadRequest, "to: before from")
	}
	replies, next, err := a.Store.ListInbound(r.Context(), app, query, 0)
	if err != nil {
		return nil, 0, err
	}
	key := a.numberHashKey(app)
	items := make([]inboundView, len(replies))
	for i, m := range replies {
		items[i] = inboundView{ID: m.ID, To: m.To, Text: m.Text, Keyword: m.Keyword, Provider: m.Provider, ReceivedAt: m.At}
		items[i].From, items[i].FromHash = inbound.PhoneOf(m.From, key)
		step := m.Steps[store.StepAutoReply]
		if items[i].AnswerSkipped = inbound.SkipReason(step); items[i].AnswerSkipped == "" {
			items[i].Answer = step
		}
	}
	out := map[string]any{"inbound": items}
	if next > 0 {
		out["next_cursor"] = strconv.FormatInt(next, 10)
	}
	return out, http.StatusOK, nil
}

// numberHashKey is app's number hash key when it has hash_numbers (nil:
// its replies show the number), as its outcome events and callbacks.
func (a *API) numberHashKey(app string) []byte {
	p := a.apps[app].Privacy
	if !p.HashNumbers || p.NumberHashKey == "" {
		return nil
	}
	return []byte(p.NumberHashKey)
}

// inboundTime reads a from or to filter (msgquery.TimeBound).
func inboundTime(q url.Values, field string, end bool) (time.Time, error) {
	t, err := msgquery.TimeBound(q.Get(field), end)
	if err != nil {
		return time.Time{}, httpError(http.StatusBadRequest, "%s: %s", field, err.Error())
	}
	return t, nil
}
