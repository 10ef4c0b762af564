package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
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

// smsIDShape is an SMS id (sms.SMSID): a message code, a dot and 16 hex
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

// NewFormatter returns a Formatter reading rdb.
func NewFormatter(rdb redis.UniversalClient) *Formatter {
	c, _ := lru.New[string, msgInfo](4096)
	// The store is only read: its retention is never used.
	return &Formatter{store: store.New(rdb, time.Hour), msgs: c}
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
		if id := string(payload); smsIDShape.MatchString(id) {
			return toJSON(f.send(ctx, id))
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
	return t.Queue()
}

// formatUnknown shows another task's payload as asynqmon would, with any
// phone-like run masked.
func formatUnknown(payload []byte) string {
	return sms.MaskPhonesIn(asynqmon.DefaultPayloadFormatter.FormatPayload("", payload))
}

// resultFormatter masks phone-like runs in task results (smsfleet's tasks
// write none today).
var resultFormatter = asynqmon.ResultFormatterFunc(func(_ string, result []byte) string {
	return sms.MaskPhonesIn(asynqmon.DefaultResultFormatter.FormatResult("", result))
})

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unprintable: " + err.Error()
	}
	return string(b)
}
