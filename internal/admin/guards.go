package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/guard"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// guardFields are the fields of a guard override (config.Guards' JSON).
var guardFields = []string{"countries", "denied_ranges", "senders", "default_sender", "rate", "burst",
	"otp_per_phone_hour", "otp_per_prefix_minute", "prefix_digits", "anomaly_factor", "anomaly_floor"}

// RegisterGuards mounts GET and POST /api/v1/admin/applications/{code}/guards:
// an application's guards as configured, the operator's override and the
// guards in force; a POST sets override fields (null removes one, back to
// the configured value), stored in the traffic state (audited, applied by
// every pod within a poll).
func (a *API) RegisterGuards(mux *http.ServeMux, g *guard.Guards) {
	mux.Handle("GET /api/v1/admin/applications/{code}/guards", a.operator(func(w http.ResponseWriter, r *http.Request) { a.showGuards(w, r, g) }))
	mux.Handle("POST /api/v1/admin/applications/{code}/guards", a.operator(func(w http.ResponseWriter, r *http.Request) { a.changeGuards(w, r, g) }))
}

func (a *API) guardApp(w http.ResponseWriter, r *http.Request) (string, bool) {
	code := r.PathValue("code")
	if !a.apps[code] {
		writeError(w, http.StatusNotFound, "code", fmt.Sprintf("unknown application %q", code))
		return "", false
	}
	return code, true
}

func (a *API) showGuards(w http.ResponseWriter, r *http.Request, g *guard.Guards) {
	code, ok := a.guardApp(w, r)
	if !ok {
		return
	}
	over, err := g.Live.ReadOverride(r.Context(), code)
	if err != nil {
		a.fail(w, err)
		return
	}
	_, applied := g.Live.Override(code)
	writeJSON(w, http.StatusOK, map[string]any{
		"application": code, "configured": g.Live.Configured(code), "override": over,
		"effective": g.Live.Resolve(code, over).Guards, "applied_here": g.Rules(code).Guards, "version_here": applied,
	})
}

// changeGuards answers POST .../guards with override fields: each is
// checked as the configuration's would be, then with the configured
// guards under it, so nothing invalid reaches a pod.
func (a *API) changeGuards(w http.ResponseWriter, r *http.Request, g *guard.Guards) {
	code, ok := a.guardApp(w, r)
	if !ok {
		return
	}
	body, ferr := readObject(r, guardFields...)
	if ferr != nil {
		writeError(w, http.StatusBadRequest, ferr.field, ferr.msg)
		return
	}
	over, err := g.Live.ReadOverride(r.Context(), code)
	if err != nil {
		a.fail(w, err)
		return
	}
	next, ferr := patchGuards(over, body)
	if ferr != nil {
		writeError(w, http.StatusBadRequest, ferr.field, ferr.msg)
		return
	}
	if err := next.Validate("guards"); err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	if err := g.Live.Configured(code).Merge(next).Validate("guards (with the configured ones)"); err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	js, err := json.Marshal(next)
	if err != nil {
		a.fail(w, err)
		return
	}
	val := string(js)
	if next.IsZero() {
		val = "" // no override left: the field goes
	}
	a.apply(w, r, traffic.Change{Who: a.o.Who, What: "guards of application " + code, Set: map[string]string{guard.Field(code): val}})
}

// patchGuards lays the body's fields over the stored override: each
// present field replaces the override's, null removes it. Each field is
// decoded strictly into its type, so a wrong type is refused by name.
func patchGuards(over config.Guards, body map[string]json.RawMessage) (config.Guards, *fieldError) {
	cur, err := json.Marshal(over)
	if err != nil {
		return config.Guards{}, &fieldError{"", err.Error()}
	}
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(cur, &m)
	for k, v := range body {
		if string(bytes.TrimSpace(v)) == "null" {
			delete(m, k)
			continue
		}
		var one config.Guards
		dec := json.NewDecoder(bytes.NewReader([]byte(`{"` + k + `":` + string(v) + `}`)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&one); err != nil {
			return config.Guards{}, &fieldError{k, fmt.Sprintf("%s: wrong type: %v", k, err)}
		}
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		return config.Guards{}, &fieldError{"", err.Error()}
	}
	var next config.Guards
	if err := json.Unmarshal(out, &next); err != nil {
		return config.Guards{}, &fieldError{"", err.Error()}
	}
	return next, nil
}
