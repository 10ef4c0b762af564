package intake

import (
	"net/http"
	"strconv"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// listSMSByPhone answers GET /api/v1/sms?phone=…: every SMS of the
// application to that phone within the retention, newest first, from the
// per-phone index Message History searches too (store.SMSByPhone). An SMS
// is indexed when a worker first loads it, so a scheduled SMS appears when
// it is due, and one canceled before that does not appear.
func (a *API) listSMSByPhone(r *http.Request, app string, p page) (any, int, error) {
	raw := r.URL.Query().Get("phone")
	if raw == "" {
		return nil, 0, httpError(http.StatusBadRequest, "phone: required (a phone number)")
	}
	phone, err := sms.NormalizePhone(raw, a.DefaultRegion)
	if err != nil {
		return nil, 0, httpError(http.StatusBadRequest, "phone: %v", err)
	}
	ids, next, err := a.Store.SMSByPhone(r.Context(), app, phone, p.limit, p.cursor)
	if err != nil {
		return nil, 0, err
	}
	recs, err := a.Store.GetSMSBatch(r.Context(), ids)
	if err != nil {
		return nil, 0, err
	}
	items := make([]phoneSMSView, 0, len(recs))
	for _, rec := range recs {
		if rec.ID == "" || rec.To != phone {
			continue // past the retention, or an entry naming another phone's SMS
		}
		v := phoneSMSView{Message: rec.Code, recipientView: recipientOf(rec)}
		items = append(items, v)
	}
	out := map[string]any{"phone": phone, "sms": items}
	if next > 0 {
		out["next_cursor"] = strconv.FormatInt(next, 10)
	}
	return out, http.StatusOK, nil
}

// phoneSMSView is one SMS of a phone's history: its message code and the
// recipient fields of GET /api/v1/messages/{code}.
type phoneSMSView struct {
	Message string `json:"message"`
	recipientView
}
