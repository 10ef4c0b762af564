package dispatcher

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// The opt-out list: phones that asked for no more marketing or
// transactional SMS of an application (security codes still go unless the
// application says otherwise). Inbound STOP replies feed it too (receipts).

func (a *API) addOptOut(w http.ResponseWriter, r *http.Request) {
	app, err := a.appFromHeader(r)
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
	}
	var req struct {
		Phone string `json:"phone"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		a.writeNativeErr(w, r, httpError(http.StatusBadRequest, `malformed JSON: want {"phone": "+..."}`))
		return
	}
	phone, err := sms.NormalizePhone(req.Phone, a.DefaultRegion)
	if err != nil {
		a.writeNativeErr(w, r, httpError(http.StatusBadRequest, "phone: %v", err))
		return
	}
	added, err := a.Store.AddOptOut(r.Context(), app, phone)
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"phone": phone, "opted_out": true})
}

func (a *API) removeOptOut(w http.ResponseWriter, r *http.Request) {
	app, err := a.appFromHeader(r)
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
	}
	phone, err := sms.NormalizePhone(r.PathValue("phone"), a.DefaultRegion)
	if err != nil {
		a.writeNativeErr(w, r, httpError(http.StatusBadRequest, "phone: %v", err))
		return
	}
	removed, err := a.Store.RemoveOptOut(r.Context(), app, phone)
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
	}
	if !removed {
		a.writeNativeErr(w, r, httpError(http.StatusNotFound, "%s is not opted out", phone))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"phone": phone, "opted_out": false})
}

func (a *API) listOptOuts(w http.ResponseWriter, r *http.Request) {
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
	list, next, err := a.Store.ListOptOuts(r.Context(), app, int(cursor), limit)
	if err != nil {
		a.writeNativeErr(w, r, err)
		return
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
	writeJSON(w, http.StatusOK, out)
}
