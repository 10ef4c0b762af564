package intake

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/msgquery"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Pushwoosh's Statistics API v2, as its SMS page now points to it
// (https://docs.pushwoosh.com/developer/api-reference/statistics-api/statistics-api-v2):
//
//	POST /api/v2/statistics/messages/totalsByIntervals  {"message_code": ...}
//	POST /api/v2/messages:list                          {"application": ..., "filters": {...}, "params": {...}, "per_page", "page"}
//
// Both take the server token in Authorization: Token <token> (checked
// before the body is read) and a JSON body of at most v2BodyBytes. Their
// numbers come from the message's counters: "sends" is SMS handed to a
// provider, "deliveries" delivered, "errors" undelivered and failed;
// opens and the push-only counts are always "0", since an SMS has none.

// platformSMS is Pushwoosh's platform code of SMS (registerDevice's
// device_type 18), and its name in messages:list.
const (
	platformSMS     = 18
	platformSMSName = "SMS"
	v2BodyBytes     = 64 << 10
)

// readV2Body decodes a v2 request body into v; a malformed body is a 400.
func readV2Body(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, v2BodyBytes))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return httpError(http.StatusBadRequest, "%s: must be %s", te.Field, jsonKind(te.Type.Kind().String()))
		}
		return httpError(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	return nil
}

// v2Handler adapts a v2 method to the native wrapper (server token first)
// with access to the response writer for the body bound.
func (a *API) v2Handler(h func(w http.ResponseWriter, r *http.Request, app string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.native(func(r *http.Request, app string, _ page) (any, int, error) {
			out, err := h(w, r, app)
			return out, http.StatusOK, err
		})(w, r)
	}
}

// intervalMetrics is one hour of totalsByIntervals.
type intervalMetrics struct {
	Timestamp       string `json:"timestamp"`
	Platform        int    `json:"platform"`
	Sends           string `json:"sends"`
	Opens           string `json:"opens"`
	Deliveries      string `json:"deliveries"`
	InboxOpens      string `json:"inbox_opens"`
	UnshowableSends string `json:"unshowable_sends"`
	Errors          string `json:"errors"`
}

// totalsByIntervals answers the message's counts per UTC hour.
func (a *API) totalsByIntervals(w http.ResponseWriter, r *http.Request, app string) (any, error) {
	var req struct {
		MessageCode string `json:"message_code"`
		Platforms   []int  `json:"platforms"`
	}
	if err := readV2Body(w, r, &req); err != nil {
		return nil, err
	}
	if req.MessageCode == "" {
		return nil, httpError(http.StatusBadRequest, "message_code: required")
	}
	m, err := a.Store.GetMessage(r.Context(), app, req.MessageCode)
	if errors.Is(err, store.ErrNotFound) {
		return nil, httpError(http.StatusNotFound, "message_code: no message %q in this application", req.MessageCode)
	}
	if err != nil {
		return nil, err
	}
	metrics := []intervalMetrics{}
	if wantsSMS(req.Platforms) {
		metrics = hourlyMetrics(m)
	}
	return map[string]any{"metrics": metrics}, nil
}

// wantsSMS reports whether a platforms filter (absent: every platform)
// takes SMS.
func wantsSMS(platforms []int) bool {
	if len(platforms) == 0 {
		return true
	}
	for _, p := range platforms {
		if p == platformSMS {
			return true
		}
	}
	return false
}

// hourlyMetrics turns the message's hourly counters into v2 rows, oldest
// hour first.
func hourlyMetrics(m store.Message) []intervalMetrics {
	hours := hoursOf(m)
	out := make([]intervalMetrics, 0, len(hours))
	n := func(action, hour string) int64 { return m.Hourly[action][hour] }
	for _, h := range hours {
		t, err := time.Parse("2006010215", h)
		if err != nil {
			continue
		}
		out = append(out, intervalMetrics{
			Timestamp: t.Format("2006-01-02 15:04:05"), Platform: platformSMS,
			Sends: strconv.FormatInt(n("send", h), 10), Deliveries: strconv.FormatInt(n("delivery", h), 10),
			Errors: strconv.FormatInt(n("undelivered", h)+n("failed", h), 10),
			Opens:  "0", InboxOpens: "0", UnshowableSends: "0",
		})
	}
	return out
}

// listRequest is messages:list's body.
type listRequest struct {
	Application string `json:"application"`
	Filters     struct {
		Platforms []string `json:"platforms"`
		DateRange struct {
			DateFrom string `json:"date_from"`
			DateTo   string `json:"date_to"`
		} `json:"date_range"`
		MessagesCodes []string `json:"messages_codes"`
	} `json:"filters"`
	Params struct {
		WithDetails bool `json:"with_details"`
		WithMetrics bool `json:"with_metrics"`
	} `json:"params"`
	PerPage *int `json:"per_page"`
	Page    *int `json:"page"`
}

// listItem is one message of messages:list.
type listItem struct {
	Code        string   `json:"code"`
	CreatedDate string   `json:"created_date"`
	SendDate    string   `json:"send_date"`
	Status      string   `json:"status"`
	Platforms   []string `json:"platforms"`
	Source      string   `json:"source"`
	SMSInfo     *smsInfo `json:"sms_info,omitempty"`
}

// smsInfo is the SMS counterpart of messages:list's push_info.
type smsInfo struct {
	Details *smsDetails       `json:"details,omitempty"`
	Metrics []intervalMetrics `json:"metrics,omitempty"`
}

type smsDetails struct {
	Content json.RawMessage `json:"content,omitempty"`
	Sender  string          `json:"sender,omitempty"`
	Type    string          `json:"type"`
}

// messagesList answers the application's messages, newest first, filtered
// by date range (YYYY-MM-DD), message codes and platforms (SMS or none),
// a page of per_page (at most 1000) at a time.
func (a *API) messagesList(w http.ResponseWriter, r *http.Request, app string) (any, error) {
	var req listRequest
	if err := readV2Body(w, r, &req); err != nil {
		return nil, err
	}
	if req.Application != "" && req.Application != app {
		return nil, httpError(http.StatusForbidden, "application: the token is not %s's", req.Application)
	}
	perPage, pageNo := 100, 1
	if req.PerPage != nil {
		perPage = *req.PerPage
	}
	if req.Page != nil {
		pageNo = *req.Page
	}
	if perPage < 1 || perPage > maxPage {
		return nil, httpError(http.StatusBadRequest, "per_page: must be from 1 to %d, got %d", maxPage, perPage)
	}
	if pageNo < 1 || pageNo*perPage > maxListScan {
		return nil, httpError(http.StatusBadRequest, "page: must be from 1 to %d with per_page %d, got %d", maxListScan/perPage, perPage, pageNo)
	}
	q, err := msgquery.Parse(req.Filters.DateRange.DateFrom, req.Filters.DateRange.DateTo, "", "")
	var fe *msgquery.FieldError
	if errors.As(err, &fe) {
		return nil, httpError(http.StatusBadRequest, "filters.date_range.date_%s", fe.Error())
	}
	if !wantsSMSName(req.Filters.Platforms) {
		return map[string]any{"total": 0, "items": []listItem{}}, nil
	}
	codes := map[string]bool{}
	for _, c := range req.Filters.MessagesCodes {
		codes[c] = true
	}
	msgs, _, _, err := msgquery.Find(r.Context(), a.Store, app, q, maxListScan, maxListScan, 0)
	if err != nil {
		return nil, err
	}
	var matched []store.Message
	for _, m := range msgs {
		if len(codes) == 0 || codes[m.Code] {
			matched = append(matched, m)
		}
	}
	items := []listItem{}
	for _, m := range matched[min((pageNo-1)*perPage, len(matched)):min(pageNo*perPage, len(matched))] {
		items = append(items, a.listItemOf(m, req.Params.WithDetails, req.Params.WithMetrics))
	}
	return map[string]any{"total": len(matched), "items": items}, nil
}

// wantsSMSName reports whether a platforms filter by name takes SMS.
func wantsSMSName(platforms []string) bool {
	if len(platforms) == 0 {
		return true
	}
	for _, p := range platforms {
		if p == platformSMSName {
			return true
		}
	}
	return false
}

func (a *API) listItemOf(m store.Message, details, metrics bool) listItem {
	it := listItem{
		Code: m.Code, CreatedDate: m.CreatedAt.UTC().Format(time.DateTime), SendDate: msgquery.Due(m).UTC().Format(time.DateTime),
		Status: messageStatus(m), Platforms: []string{platformSMSName}, Source: "API",
	}
	if details || metrics {
		it.SMSInfo = &smsInfo{}
	}
	if details {
		d := &smsDetails{Sender: m.Sender, Type: string(m.Type)}
		d.Content = contentOf(m) // "[redacted]" once removed (redact.go)
		it.SMSInfo.Details = d
	}
	if metrics {
		it.SMSInfo.Metrics = hourlyMetrics(m)
	}
	return it
}

// messageStatus is a message's state as messages:list names it: canceled,
// scheduled (nothing sent yet), processing (some SMS not final), done.
func messageStatus(m store.Message) string {
	counts := statusCounts(m)
	switch {
	case m.Canceled:
		return "canceled"
	case counts["scheduled"] == int64(m.Recipients) && m.Recipients > 0,
		m.Conditions != "" && len(m.Groups) > 0 && m.Groups[0].Fanout == "": // recipients found when it goes out
		return "scheduled"
	case counts["scheduled"]+counts["queued"]+counts["sending"] > 0:
		return "processing"
	}
	return "done"
}
