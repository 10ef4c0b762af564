package intake

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/msgquery"
	"github.com/smsfleet/smsfleet/internal/store"
)

// The native read API: JSON views of messages and their recipients for the
// application whose server token is in Authorization: Token ....

const (
	defaultPage = 100
	maxPage     = 1000
)

type messageView struct {
	Code       string    `json:"code"`
	Type       string    `json:"type"`
	CreatedAt  time.Time `json:"created_at"`
	SendAt     time.Time `json:"send_at"`
	Timezone   string    `json:"timezone"`
	Canceled   bool      `json:"canceled"`
	Recipients int       `json:"recipients"`
	Segments   int64     `json:"segments"`
	// Cost and Currency: the sum of its SMS's costs (cost.go), when any
	// SMS had a price.
	Cost     string           `json:"cost,omitempty"`
	Currency string           `json:"currency,omitempty"`
	Counts   map[string]int64 `json:"counts"`
	Groups   []groupView      `json:"groups,omitempty"`
	// Sender and Content are the message's From and its text (a string,
	// or an object of language to text), as createMessage took them.
	Sender  string          `json:"sender,omitempty"`
	Content json.RawMessage `json:"content,omitempty"`
}

// groupView is one time zone group of a local-time send.
type groupView struct {
	Zone       string    `json:"zone"`
	SendAt     time.Time `json:"send_at"`
	Recipients int       `json:"recipients"`
}

type recipientView struct {
	ID          string `json:"id"`
	To          string `json:"to"`
	Status      string `json:"status"`
	Provider    string `json:"provider,omitempty"`
	ProviderRef string `json:"provider_ref,omitempty"`
	Segments    int    `json:"segments,omitempty"`
	Encoding    string `json:"encoding,omitempty"`
	Error       string `json:"error,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Operator    string `json:"operator,omitempty"`
	Attempts    int    `json:"attempts,omitempty"`
	// Cost is what the SMS cost (a decimal in the message's currency),
	// when its provider had a price for its country.
	Cost      string     `json:"cost,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// History is every provider call, oldest first: provider, time,
	// outcome ("sent", "transient", "throttled", "permanent"), error.
	History []store.Attempt `json:"history,omitempty"`
}

func viewOf(m store.Message) messageView {
	v := messageView{
		Code: m.Code, Type: string(m.Type), CreatedAt: m.CreatedAt, SendAt: m.SendAt, Timezone: m.Timezone,
		Canceled: m.Canceled, Recipients: m.Recipients, Segments: m.Segments, Counts: statusCounts(m),
		Sender: m.Sender,
	}
	v.Content = contentOf(m) // "[redacted]" once removed (redact.go)
	if m.Priced {
		v.Cost = config.Micros(m.Cost).String()
	}
	if len(m.Groups) > 1 {
		for _, g := range m.Groups {
			v.Groups = append(v.Groups, groupView{Zone: g.Zone, SendAt: g.SendAt, Recipients: g.Recipients})
		}
	}
	return v
}

// page is a native request's paging: at most limit items from cursor on.
type page struct {
	limit  int
	cursor int64
}

// nativeFunc handles one native API call for app; it returns the JSON body
// and HTTP status, or an error (an *apiError keeps its status).
type nativeFunc func(r *http.Request, app string, p page) (any, int, error)

// native wraps a nativeFunc with what every native call shares: the server
// token in Authorization: Token ..., the paging parameters, and the answer.
func (a *API) native(h nativeFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if wait, throttled := a.Guard.Throttled(r); throttled {
			a.writeNativeErr(w, r, throttledError(wait))
			return
		}
		app, err := a.appFromHeader(r)
		if err != nil {
			a.writeNativeErr(w, r, err)
			return
		}
		limit, cursor, err := pageParams(r)
		if err != nil {
			a.writeNativeErr(w, r, err)
			return
		}
		body, status, err := h(r, app, page{limit: limit, cursor: cursor})
		if err != nil {
			a.writeNativeErr(w, r, err)
			return
		}
		writeJSON(w, status, body)
	}
}

func (a *API) getMessage(r *http.Request, app string, p page) (any, int, error) {
	m, err := a.Store.GetMessage(r.Context(), app, r.PathValue("code"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, httpError(http.StatusNotFound, "no message %q", r.PathValue("code"))
	}
	if err != nil {
		return nil, 0, err
	}
	recs, next, err := a.Store.Recipients(r.Context(), m, int(p.cursor), p.limit)
	if err != nil {
		return nil, 0, err
	}
	items := make([]recipientView, len(recs))
	for i, rec := range recs {
		items[i] = recipientOf(rec)
	}
	mv := viewOf(m)
	if mv.Cost != "" {
		mv.Currency = a.Currency
	}
	out := map[string]any{"message": mv, "recipients": items}
	if next >= 0 {
		out["next_cursor"] = strconv.Itoa(next)
	}
	return out, http.StatusOK, nil
}

// recipientOf is the view of one SMS record.
func recipientOf(rec store.SMS) recipientView {
	v := recipientView{ID: rec.ID, To: rec.To, Status: string(rec.Status), Provider: rec.Provider, ProviderRef: rec.ProviderRef,
		Segments: rec.Segments, Encoding: rec.Encoding, Error: rec.Error, Reason: rec.Reason, Operator: rec.Operator, Attempts: rec.Attempts, History: rec.History}
	if !rec.UpdatedAt.IsZero() {
		t := rec.UpdatedAt
		v.UpdatedAt = &t
	}
	if rec.Priced {
		v.Cost = config.Micros(rec.Cost).String()
	}
	return v
}

// maxListScan bounds how many messages one GET /api/v1/messages reads
// while filtering: a selective filter over a long history answers a short
// page with next_cursor, and the client goes on from there.
const maxListScan = 10 * maxPage

// listMessages answers GET /api/v1/messages: newest first, filtered by
// from and to (YYYY-MM-DD, UTC days of the due date, both included), type
// and status (at least one SMS in it), as Message History's list is
// (internal/msgquery).
func (a *API) listMessages(r *http.Request, app string, p page) (any, int, error) {
	q := r.URL.Query()
	f, err := msgquery.Parse(q.Get("from"), q.Get("to"), q.Get("type"), q.Get("status"))
	var fe *msgquery.FieldError
	if errors.As(err, &fe) {
		return nil, 0, httpError(http.StatusBadRequest, "%s", fe.Error())
	}
	msgs, next, _, err := msgquery.Find(r.Context(), a.Store, app, f, p.limit, maxListScan, p.cursor)
	if errors.Is(err, msgquery.ErrListChanged) {
		return nil, 0, &apiError{HTTP: http.StatusServiceUnavailable, Code: http.StatusServiceUnavailable, Message: err.Error() + ": retry"}
	}
	if err != nil {
		return nil, 0, err
	}
	views := make([]messageView, len(msgs))
	for i, m := range msgs {
		views[i] = viewOf(m)
	}
	out := map[string]any{"messages": views}
	if next > 0 {
		out["next_cursor"] = strconv.FormatInt(next, 10)
	}
	return out, http.StatusOK, nil
}

func pageParams(r *http.Request) (limit int, cursor int64, err error) {
	limit = defaultPage
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > maxPage {
			return 0, 0, httpError(http.StatusBadRequest, "limit must be an integer from 1 to %d", maxPage)
		}
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		cursor, err = strconv.ParseInt(v, 10, 64)
		if err != nil || cursor < 0 {
			return 0, 0, httpError(http.StatusBadRequest, "cursor must be a value from next_cursor")
		}
	}
	return limit, cursor, nil
}

func (a *API) writeNativeErr(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		setRetryAfter(w, ae)
		writeJSON(w, ae.HTTP, map[string]string{"error": ae.Message})
		return
	}
	a.log.Error("internal error", zapMethod(r), zapErr(err))
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
