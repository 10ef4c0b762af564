package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// formatTimeout bounds the Redis reads behind one task's payload: a slow
// Redis makes the monitor show "unavailable", not hang.
const formatTimeout = time.Second

// smsIDShape is an SMS id (sms.IDs): a message code, a dot and 16 hex
// digits. Nothing of that shape is a phone number.
var smsIDShape = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}\.[0-9a-f]{16}$`)

// Formatter shows a task's payload as what on-call need: for sms:send the
// SMS id, its message, application, lane, masked phone, status, provider,
// attempts and last error; for sms:dispatch the message and its time-zone
// group. It reads Redis (read-only calls: HGETALL, LRANGE) and never shows
// a full phone number or the message text. Output is JSON, which asynqmon
// pretty-prints on the task page.
type Formatter struct {
	store *store.Store
	// msgs caches what never changes about a message (application, lane).
	msgs *lru.Cache[string, msgInfo]
}

type msgInfo struct{ app, lane string }

var _ asynqmon.PayloadFormatter = (*Formatter)(nil)

// NewFormatter returns a Formatter reading rdb (opts: the store's key
// layout, store.WithLayout).
func NewFormatter(rdb redis.UniversalClient, opts ...store.Option) *Formatter {
	c, _ := lru.New[string, msgInfo](4096)
	// The store is only read: its retention is never used.
	return &Formatter{store: store.New(rdb, time.Hour, opts...), msgs: c}
}

// SendView is how an sms:send task's payload is shown.
type SendView struct {
	SMS         string `json:"sms"`
	Message     string `json:"message"`
	Application string `json:"application,omitempty"`
	Lane        string `json:"lane,omitempty"`
	To          string `json:"to,omitempty"`
	Status      string `json:"status,omitempty"`
	Provider    string `json:"provider,omitempty"`
	Attempts    int    `json:"attempts"`
	LastError   string `json:"last_error,omitempty"`
	// Record says why the fields above are missing: "not found" (expired
	// after SMSFLEET_RETENTION, or never written) or "unavailable: ...".
	Record string `json:"record,omitempty"`
}

// DispatchView is how an sms:dispatch (fan-out) task's payload is shown.
type DispatchView struct {
	Message     string `json:"message"`
	Group       int    `json:"group"`
	Zone        string `json:"zone,omitempty"`
	SendAt      string `json:"send_at,omitempty"`
	Recipients  int    `json:"recipients,omitempty"`
	Fanout      string `json:"fanout,omitempty"`
	Application string `json:"application,omitempty"`
	// SendLane is the lane the fan-out enqueues the message's sends on.
	SendLane string `json:"send_lane,omitempty"`
	Record   string `json:"record,omitempty"`
}

// FormatPayload implements asynqmon.PayloadFormatter.
func (f *Formatter) FormatPayload(taskType string, payload []byte) string {
	ctx, cancel := context.WithTimeout(context.Background(), formatTimeout)
	defer cancel()
	switch taskType {
	case tasks.TypeSend:
		// "id\napp\nphone", or the id alone (tasks.ParseSend).
		if p := tasks.ParseSend(payload); smsIDShape.MatchString(p.ID) {
			v := f.send(ctx, p.ID)
			if v.To == "" && p.Phone != "" { // the record is gone: the payload still names it
				v.To = sms.MaskPhone(p.Phone)
			}
			if v.Application == "" {
				v.Application = p.App
			}
			return toJSON(v)
		}
	case tasks.TypeDispatch:
		if code, group, err := tasks.ParseDispatchID(string(payload)); err == nil {
			return toJSON(f.dispatch(ctx, code, group))
		}
	}
	return formatUnknown(payload)
}

func (f *Formatter) send(ctx context.Context, id string) SendView {
	v := SendView{SMS: id, Message: sms.MessageCodeOf(id)}
	rec, err := f.store.GetSMS(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v.Record = "not found (expired after SMSFLEET_RETENTION, or never written)"
		return v
	case err != nil:
		v.Record = "unavailable: " + err.Error()
		return v
	}
	v.To, v.Status, v.Provider, v.Attempts = sms.MaskPhone(rec.To), string(rec.Status), rec.Provider, rec.Attempts
	v.LastError = sms.MaskPhonesIn(rec.Error)
	if rec.Code != "" {
		v.Message = rec.Code
	}
	if mi, ok := f.message(ctx, v.Message); ok {
		v.Application, v.Lane = mi.app, mi.lane
	}
	return v
}

// message returns a message's application and lane, cached.
func (f *Formatter) message(ctx context.Context, code string) (msgInfo, bool) {
	if mi, ok := f.msgs.Get(code); ok {
		return mi, true
	}
	m, err := f.store.GetMessage(ctx, "", code)
	if err != nil {
		return msgInfo{}, false
	}
	mi := msgInfo{app: m.App, lane: laneOf(m.Type)}
	f.msgs.Add(code, mi)
	return mi, true
}

func (f *Formatter) dispatch(ctx context.Context, code string, group int) DispatchView {
	v := DispatchView{Message: code, Group: group}
	m, err := f.store.GetMessage(ctx, "", code)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v.Record = "not found (expired after SMSFLEET_RETENTION, or never written)"
		return v
	case err != nil:
		v.Record = "unavailable: " + err.Error()
		return v
	}
	v.Application, v.SendLane = m.App, laneOf(m.Type)
	if group < len(m.Groups) {
		g := m.Groups[group]
		v.Zone, v.Recipients, v.Fanout = g.Zone, g.Recipients, g.Fanout
		if !g.SendAt.IsZero() {
			v.SendAt = g.SendAt.UTC().Format(time.RFC3339)
		}
		if v.Fanout == "" {
			v.Fanout = "not started"
		}
	}
	return v
}

func laneOf(t sms.Type) string {
	if t == "" {
		return string(sms.Transactional)
	}
	return t.Lane()
}

// formatUnknown shows another task's payload as asynqmon would, with its
// phone numbers masked (maskPayload).
func formatUnknown(payload []byte) string {
	return maskPayload(asynqmon.DefaultPayloadFormatter.FormatPayload("", payload))
}

// NoResult is how a completed task without a result is shown. asynqmon's
// default formatter calls an empty result "non-printable bytes" (it finds
// no graphic character in it), which read as if the task had written
// garbage: smsfleet's tasks, callbacks included, write no result.
const NoResult = "(none: the task writes no result)"

// resultFormatter shows task results: NoResult for an empty one, else as
// asynqmon would, with phone numbers masked as in payloads.
var resultFormatter = asynqmon.ResultFormatterFunc(func(_ string, result []byte) string {
	if len(result) == 0 {
		return NoResult
	}
	return maskPayload(asynqmon.DefaultResultFormatter.FormatResult("", result))
})

// phoneKeys are the JSON keys whose values are phone numbers in the
// payloads on-call may see: the outcome event a status callback carries
// ("phone"; internal/outcomes), inbound and provider shapes ("from", "to",
// "msisdn", ...). Compared case-insensitively.
var phoneKeys = map[string]bool{
	"phone": true, "phones": true, "to": true, "from": true, "recipient": true, "recipients": true,
	"msisdn": true, "number": true, "destination": true, "destination_addr": true, "source_addr": true, "devices": true,
}

// maskPayload masks the phone numbers in a payload or result: a JSON
// document by field (every string or number under a phone key, and the
// numbers in other strings' free text), anything else as free text. Only
// phone numbers change: SMS ids, timestamps and durations are shown as
// they are (sms.MaskPhonesIn).
func maskPayload(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber() // keep numbers as written
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return sms.MaskPhonesIn(s)
	}
	if _, ok := v.(string); ok || v == nil {
		return sms.MaskPhonesIn(s)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(maskJSON(v, false)); err != nil {
		return sms.MaskPhonesIn(s)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// maskJSON masks v in place; phone says v is the value of a phone key.
func maskJSON(v any, phone bool) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = maskJSON(e, phoneKeys[strings.ToLower(k)])
		}
	case []any:
		for i, e := range t {
			t[i] = maskJSON(e, phone)
		}
	case string:
		if phone && digitCount(t) >= 7 {
			return sms.MaskPhone(strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(t))
		}
		return sms.MaskPhonesIn(t)
	case json.Number:
		if phone && digitCount(string(t)) >= 7 {
			return sms.MaskPhone(string(t))
		}
	}
	return v
}

// digitCount is how many ASCII digits s holds: a phone key's value with
// fewer ("to": "DEMO", an alphanumeric sender) is no number to hide.
func digitCount(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unprintable: " + err.Error()
	}
	return string(b)
}
