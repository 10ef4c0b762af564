package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/msgquery"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Unmatched replies (issue 17): a reply to a sender no application sends
// from changes nothing and is kept, fleet-wide, in the store's bounded
// stream (7 days, 10,000 entries: store.UnmatchedRetention,
// UnmatchedMax), for the operator alone. GET
// /api/v1/admin/inbound/unmatched lists them, newest first:
//
//	?from=, ?to=   a date (YYYY-MM-DD, a whole UTC day) or an RFC 3339 time; both included
//	?limit=        1 to 1000 (default 100); ?cursor= the previous page's next_cursor
//	?full=1        the full number and the text
//
// Safe by default: without full=1 a reply's number is masked
// (+4915*******78) and its text withheld (text_chars says how long it
// is; keyword says whether it was STOP or START), which is what deciding
// "a sender is missing from the configuration" or "apply this STOP with
// POST /api/v1/optouts" needs. full=1 shows both; each such read is
// logged at info with the operator's name, the filters and how many
// replies it returned (never the numbers or texts), so who read what is
// on record.

// UnmatchedSource pages the unmatched replies (the store).
type UnmatchedSource interface {
	PageUnmatched(ctx context.Context, q store.UnmatchedQuery) ([]store.UnmatchedEntry, string, error)
}

// Bounds of a page.
const (
	defaultUnmatchedLimit = 100
	maxUnmatchedLimit     = 1000
)

// unmatchedView is one reply of the list.
type unmatchedView struct {
	ID         string    `json:"id,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	Provider   string    `json:"provider"`
	// From is masked unless full=1.
	From    string `json:"from"`
	To      string `json:"to"`
	Keyword string `json:"keyword,omitempty"`
	// Text is present only with full=1; TextChars always.
	Text      *string `json:"text,omitempty"`
	TextChars int     `json:"text_chars"`
}

func (a *API) registerInbound(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/admin/inbound/unmatched", a.operator(a.listUnmatched))
}

// listUnmatched answers GET /api/v1/admin/inbound/unmatched.
func (a *API) listUnmatched(w http.ResponseWriter, r *http.Request) {
	if a.o.Unmatched == nil {
		writeError(w, http.StatusServiceUnavailable, "", "unmatched replies are not readable from this process (no store)")
		return
	}
	q, full, ferr := unmatchedQuery(r.URL.Query())
	if ferr != nil {
		writeError(w, http.StatusBadRequest, ferr.field, ferr.msg)
		return
	}
	entries, next, err := a.o.Unmatched.PageUnmatched(r.Context(), q)
	if errors.Is(err, store.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "cursor", err.Error())
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	items := make([]unmatchedView, len(entries))
	for i, e := range entries {
		items[i] = viewOf(e, full)
	}
	if full {
		a.o.Log.Info("operator read unmatched replies in full", zap.String("who", a.o.Who), zap.String("query", r.URL.RawQuery),
			zap.Int("replies", len(items)))
	}
	out := map[string]any{"unmatched": items, "full": full}
	if next != "" {
		out["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

func viewOf(e store.UnmatchedEntry, full bool) unmatchedView {
	v := unmatchedView{ID: e.ID, ReceivedAt: e.At, Provider: e.Provider, From: sms.MaskPhone(e.From), To: e.To, Keyword: e.Keyword,
		TextChars: utf8.RuneCountInString(e.Text)}
	if full {
		text := e.Text
		v.From, v.Text = e.From, &text
	}
	return v
}

// unmatchedQuery reads the list's parameters; a bad one is refused
// naming it.
func unmatchedQuery(q url.Values) (store.UnmatchedQuery, bool, *fieldError) {
	out := store.UnmatchedQuery{Limit: defaultUnmatchedLimit, Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxUnmatchedLimit {
			return out, false, &fieldError{"limit", fmt.Sprintf("limit must be an integer from 1 to %d", maxUnmatchedLimit)}
		}
		out.Limit = n
	}
	var full bool
	switch q.Get("full") {
	case "", "0":
	case "1":
		full = true
	default:
		return out, false, &fieldError{"full", "full must be 1 (the full numbers and texts) or 0"}
	}
	var ferr *fieldError
	if out.From, ferr = timeParam(q, "from", false); ferr != nil {
		return out, false, ferr
	}
	if out.To, ferr = timeParam(q, "to", true); ferr != nil {
		return out, false, ferr
	}
	if !out.From.IsZero() && !out.To.IsZero() && out.To.Before(out.From) {
		return out, false, &fieldError{"to", "to is before from"}
	}
	return out, full, nil
}

// timeParam reads a from or to parameter (msgquery.TimeBound).
func timeParam(q url.Values, field string, end bool) (time.Time, *fieldError) {
	t, err := msgquery.TimeBound(q.Get(field), end)
	if err != nil {
		return time.Time{}, &fieldError{field, field + " " + err.Error()}
	}
	return t, nil
}
