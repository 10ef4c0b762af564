package intake

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// The opt-out list: phones that asked for no more marketing or
// transactional SMS of an application (security codes still go unless the
// application says otherwise). Each opt-out is a record that says who set
// it (the phone by replying STOP, the API, or legacy: before records) and
// its scope: the whole application, or one sender of it
// (internal/store/optouts.go). The API sets and removes its own records;
// it cannot remove one the phone set (409): only the phone's START can.

// optOutRecord is one record as the API shows it.
type optOutRecord struct {
	// Scope is "application" (every sender) or "sender".
	Scope    string    `json:"scope"`
	Sender   string    `json:"sender,omitempty"`
	SetBy    string    `json:"set_by"`
	SetAt    time.Time `json:"set_at"`
	Provider string    `json:"provider,omitempty"`
}

func optOutRecords(o store.OptOut) []optOutRecord {
	out := make([]optOutRecord, len(o.Records))
	for i, r := range o.Records {
		out[i] = optOutRecord{Scope: "application", Sender: r.Sender, SetBy: string(r.By), SetAt: r.At, Provider: r.Provider}
		if r.Sender != "" {
			out[i].Scope = "sender"
		}
	}
	return out
}

// optOutScope reads an optional `sender`: "" (none), else the sender in
// store.SenderScope form; a sender that is no valid sender id is a 400
// naming the field.
func optOutScope(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, err := sms.NormalizeSender(s); err != nil {
		return "", httpError(http.StatusBadRequest, "sender: %v", err)
	}
	scope, _ := store.SenderScope(s)
	return scope, nil
}

func (a *API) addOptOut(r *http.Request, app string, _ page) (any, int, error) {
	var req struct {
		Phone  string `json:"phone"`
		Sender string `json:"sender"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		return nil, 0, httpError(http.StatusBadRequest, `malformed JSON: want {"phone": "+...", "sender": "optional sender id"}`)
	}
	phone, err := sms.NormalizePhone(req.Phone, a.DefaultRegion)
	if err != nil {
		return nil, 0, httpError(http.StatusBadRequest, "phone: %v", err)
	}
	sender, err := optOutScope(req.Sender)
	if err != nil {
		return nil, 0, err
	}
	added, err := a.Store.AddOptOut(r.Context(), app, phone, sender)
	if err != nil {
		return nil, 0, err
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	out := map[string]any{"phone": phone, "opted_out": true}
	if sender != "" {
		out["sender"] = sender
	}
	return out, status, nil
}

// removeOptOut removes the API's (and legacy) opt-outs of a phone: all of
// them, or with ?sender= the one scoped to that sender. A phone-set one in
// scope refuses it with 409 and nothing removed.
func (a *API) removeOptOut(r *http.Request, app string, _ page) (any, int, error) {
	phone, err := sms.NormalizePhone(r.PathValue("phone"), a.DefaultRegion)
	if err != nil {
		return nil, 0, httpError(http.StatusBadRequest, "phone: %v", err)
	}
	sender, err := optOutScope(r.URL.Query().Get("sender"))
	if err != nil {
		return nil, 0, err
	}
	removed, err := a.Store.RemoveOptOut(r.Context(), app, phone, sender)
	var byPhone *store.SetByPhoneError
	if errors.As(err, &byPhone) {
		return nil, 0, httpError(http.StatusConflict, "%s: %v", phone, byPhone)
	}
	if err != nil {
		return nil, 0, err
	}
	if !removed {
		if sender != "" {
			return nil, 0, httpError(http.StatusNotFound, "%s is not opted out of sender %s", phone, sender)
		}
		return nil, 0, httpError(http.StatusNotFound, "%s is not opted out", phone)
	}
	left, err := a.Store.GetOptOut(r.Context(), app, phone)
	if err != nil {
		return nil, 0, err
	}
	return map[string]any{"phone": phone, "opted_out": len(left.Records) > 0, "records": optOutRecords(left)}, http.StatusOK, nil
}

func (a *API) listOptOuts(r *http.Request, app string, p page) (any, int, error) {
	list, next, err := a.Store.ListOptOuts(r.Context(), app, int(p.cursor), p.limit)
	if err != nil {
		return nil, 0, err
	}
	type item struct {
		Phone   string         `json:"phone"`
		Since   time.Time      `json:"since"`
		Records []optOutRecord `json:"records"`
	}
	items := make([]item, len(list))
	for i, o := range list {
		items[i] = item{o.Phone, o.Since, optOutRecords(o)}
	}
	out := map[string]any{"optouts": items}
	if next >= 0 {
		out["next_cursor"] = strconv.Itoa(next)
	}
	return out, http.StatusOK, nil
}
