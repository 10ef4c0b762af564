package intake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// The opt-out list: phones that asked for no more marketing or
// transactional SMS of an application (security codes still go unless the
// application says otherwise). Inbound STOP replies feed it too (receipts).

func (a *API) addOptOut(r *http.Request, app string, _ page) (any, int, error) {
	var req struct {
		Phone string `json:"phone"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		return nil, 0, httpError(http.StatusBadRequest, `malformed JSON: want {"phone": "+..."}`)
	}
	phone, err := sms.NormalizePhone(req.Phone, a.DefaultRegion)
	if err != nil {
		return nil, 0, httpError(http.StatusBadRequest, "phone: %v", err)
	}
	added, err := a.Store.AddOptOut(r.Context(), app, phone)
	if err != nil {
		return nil, 0, err
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	return map[string]any{"phone": phone, "opted_out": true}, status, nil
}

func (a *API) removeOptOut(r *http.Request, app string, _ page) (any, int, error) {
	phone, err := sms.NormalizePhone(r.PathValue("phone"), a.DefaultRegion)
	if err != nil {
		return nil, 0, httpError(http.StatusBadRequest, "phone: %v", err)
	}
	removed, err := a.Store.RemoveOptOut(r.Context(), app, phone)
	if err != nil {
		return nil, 0, err
	}
	if !removed {
		return nil, 0, httpError(http.StatusNotFound, "%s is not opted out", phone)
	}
	return map[string]any{"phone": phone, "opted_out": false}, http.StatusOK, nil
}

func (a *API) listOptOuts(r *http.Request, app string, p page) (any, int, error) {
	list, next, err := a.Store.ListOptOuts(r.Context(), app, int(p.cursor), p.limit)
	if err != nil {
		return nil, 0, err
	}
	type item struct {
		Phone string    `json:"phone"`
		Since time.Time `json:"since"`
	}
	items := make([]item, len(list))
	for i, o := range list {
		items[i] = item{o.Phone, o.Since}
	}
	out := map[string]any{"optouts": items}
	if next >= 0 {
		out["next_cursor"] = strconv.Itoa(next)
	}
	return out, http.StatusOK, nil
}
