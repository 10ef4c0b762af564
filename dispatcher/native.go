package dispatcher

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
)

// The native read API: JSON views of messages and their recipients for the
// application whose server token is in Authorization: Token ....

const (
	defaultPage = 100
	maxPage     = 1000
)

type messageView struct {
	Code       string           `json:"code"`
	Type       string           `json:"type"`
	CreatedAt  time.Time        `json:"created_at"`
	SendAt     time.Time        `json:"send_at"`
	Timezone   string           `json:"timezone"`
	Canceled   bool             `json:"canceled"`
	Recipients int              `json:"recipients"`
	Segments   int64            `json:"segments"`
	Counts     map[string]int64 `json:"counts"`
	Groups     []groupView      `json:"groups,omitempty"`
}

// groupView is one time zone group of a local-time send.
type groupView struct {
	Zone       string    `json:"zone"`
	SendAt     time.Time `json:"send_at"`
	Recipients int       `json:"recipients"`
}

type recipientView struct {
	ID          string     `json:"id"`
	To          string     `json:"to"`
	Status      string     `json:"status"`
	Provider    string     `json:"provider,omitempty"`
	ProviderRef string     `json:"provider_ref,omitempty"`
	Segments    int        `json:"segments,omitempty"`
	Encoding    string     `json:"encoding,omitempty"`
	Error       string     `json:"error,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
	// History is every provider call, oldest first: provider, time,
	// outcome ("sent", "transient", "throttled", "permanent"), error.
	History []store.Attempt `json:"history,omitempty"`
}

func viewOf(m store.Message) messageView {
	v := messageView{
		Code: m.Code, Type: string(m.Type), CreatedAt: m.CreatedAt, SendAt: m.SendAt, Timezone: m.Timezone,
		Canceled: m.Canceled, Recipients: m.Recipients, Segments: m.Segments, Counts: statusCounts(m),
	}
	if len(m.Groups) > 1 {
		for _, g := range m.Groups {
			v.Groups = append(v.Groups, groupView{Zone: g.Zone, SendAt: g.SendAt, Recipients: g.Recipients})
		}
	}
	return v
}

func (a *API) getMessage(w http.ResponseWriter, r *http.Request) {
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
	m, err := a.Store.GetMessage(r.Context(), app, r.PathValue("code"))
	if errors.Is(err, store.ErrNotFound) {
		a.writeNativeErr(w, r, httpError(http.StatusNotFound, "no message %q", r.PathValue("code")))
		return
	}
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
	}
	recs, next, err := a.Store.Recipients(r.Context(), m, int(cursor), limit)
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
	}
	items := make([]recipientView, len(recs))
	for i, rec := range recs {
		items[i] = recipientView{ID: rec.ID, To: rec.To, Status: string(rec.Status), Provider: rec.Provider, ProviderRef: rec.ProviderRef,
			Segments: rec.Segments, Encoding: rec.Encoding, Error: rec.Error, Reason: rec.Reason, Attempts: rec.Attempts, History: rec.History}
		if !rec.UpdatedAt.IsZero() {
			t := rec.UpdatedAt
			items[i].UpdatedAt = &t
		}
	}
	out := map[string]any{"message": viewOf(m), "recipients": items}
	if next >= 0 {
		out["next_cursor"] = strconv.Itoa(next)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) listMessages(w http.ResponseWriter, r *http.Request) {
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
	msgs, next, err := a.Store.ListMessages(r.Context(), app, limit, cursor)
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
	}
	views := make([]messageView, len(msgs))
	for i, m := range msgs {
		views[i] = viewOf(m)
	}
	out := map[string]any{"messages": views}
	if next > 0 {
		out["next_cursor"] = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
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
