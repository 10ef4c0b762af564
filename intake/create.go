package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// sendDateLayout is Pushwoosh's send_date format (besides "now").
const sendDateLayout = "2006-01-02 15:04"

// pastTolerance is how far in the past a send_date may be and still mean
// "now": a client that built the request at 12:00:59 and sent it at
// 12:01:00 should not get an error.
const pastTolerance = time.Minute

// maxScheduleAhead is the furthest a message may be scheduled. Beyond it a
// date is almost surely a typo (2062 for 2026), and it keeps every expiry
// and delay well inside time.Duration.
const maxScheduleAhead = 366 * 24 * time.Hour

// stringList accepts a JSON array of strings or a single string (some
// Pushwoosh clients send one device as a plain string).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" { // absent, not one empty entry
		*l = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: typeStringSlice}
	}
	*l = many
	return nil
}

type notification struct {
	SendDate                   string          `json:"send_date"`
	Timezone                   string          `json:"timezone"`
	IgnoreUserTimezone         *bool           `json:"ignore_user_timezone"`
	Content                    json.RawMessage `json:"content"`
	Preset                     string          `json:"preset"`
	DynamicContentPlaceholders json.RawMessage `json:"dynamic_content_placeholders"`
	Devices                    stringList      `json:"devices"`
	Users                      stringList      `json:"users"`
	TransactionID              string          `json:"transactionId"`
	UseAutoRegistration        bool            `json:"use_auto_registration"`
	MessageType                string          `json:"message_type"`
	Sender                     string          `json:"sender"`
	Validity                   *int64          `json:"validity"`
	DeliveryWait               *int64          `json:"delivery_wait"`
	StatusCallback             string          `json:"status_callback"`
	CappingDays                *int            `json:"capping_days"`
	CappingCount               *int            `json:"capping_count"`
	Platforms                  []int           `json:"platforms"`
	// Conditions target the application's devices by tag (conditions.go).
	Conditions         json.RawMessage `json:"conditions"`
	ConditionsOperator string          `json:"conditions_operator"`
	// SendRate is SMS per second for this message (sendrate.go).
	SendRate *int `json:"send_rate"`
	// Redact removes the text once the SMS are settled (redact.go).
	Redact *bool `json:"redact"`
}

type createRequest struct {
	Notifications []json.RawMessage `json:"notifications"`
}

// plan is a validated notification, ready to be written.
type plan struct {
	msg       store.Message
	audiences []store.Audience
	unknown   []string // devices not registered (skipped unless auto-registered)
	register  []string // devices to auto-register before writing
}

type createResponse struct {
	Messages       []string            `json:"Messages"`
	UnknownDevices map[string][]string `json:"UnknownDevices,omitempty"`
}

func (a *API) createMessage(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	var req createRequest
	if err := decodeArgs(raw, &req, ""); err != nil {
		return nil, err
	}
	switch {
	case req.Notifications == nil:
		return nil, argError("notifications", "required (a list of notifications)")
	case len(req.Notifications) == 0:
		// Pushwoosh answers an empty list with 200 and no messages, and
		// clients that build the list in a loop rely on it.
		return createResponse{Messages: []string{}}, nil
	}
	// Validate every notification before writing anything, so a bad one
	// leaves no trace of the good ones.
	plans := make([]plan, len(req.Notifications))
	for i, rawN := range req.Notifications {
		p, err := a.planNotification(ctx, app, fmt.Sprintf("notifications[%d]", i), rawN)
		if err != nil {
			return nil, err
		}
		plans[i] = p
	}
	resp := createResponse{Messages: make([]string, 0, len(plans))}
	for _, p := range plans {
		code, err := a.write(ctx, p)
		if err != nil {
			return nil, err
		}
		resp.Messages = append(resp.Messages, code)
		if len(p.unknown) > 0 {
			if resp.UnknownDevices == nil {
				resp.UnknownDevices = map[string][]string{}
			}
			resp.UnknownDevices[code] = p.unknown
		}
	}
	return resp, nil
}

// write stores one planned message and enqueues its tasks. A stored message
// sits in the outbox until its tasks are enqueued, so a crash between the
// two is repaired by the outbox sweeper rather than losing the message.
func (a *API) write(ctx context.Context, p plan) (string, error) {
	if len(p.register) > 0 {
		if err := a.Store.RegisterDevices(ctx, p.msg.App, p.register); err != nil {
			return "", deviceLimit(err, "use_auto_registration")
		}
	}
	code, err := sms.NewMessageCode()
	if err != nil {
		return "", err
	}
	p.msg.Code = code
	code, created, err := a.storeMessage(ctx, &p.msg, p.audiences)
	if err != nil {
		if errors.Is(err, store.ErrNotReplicated) {
			a.log.Warn("message not durable yet: answering 503", zap.String("message", code), zap.String("application", p.msg.App), zap.Error(err))
			return "", notDurable(err)
		}
		// The script may have run even though its answer never came: the
		// client is told to retry with its transactionId (README, "The API").
		return "", unavailable(err, msgUncertain)
	}
	if !created {
		a.log.Info("transactionId seen before: returning its message", zap.String("message", code), zap.String("application", p.msg.App),
			zap.Bool("enqueue_pending", p.msg.ReplayPending))
		if p.msg.ReplayPending {
			a.enqueueReplay(ctx, p.msg.App, code)
		}
		return code, nil
	}
	if p.msg.NothingToSend() {
		_ = a.Store.OutboxDone(ctx, code)
		return code, nil
	}
	if err := a.Enqueuer.Enqueue(ctx, p.msg); err != nil {
		// Stored and in the outbox: the sweeper will enqueue it. The client
		// must not retry into a second message, so this is still a success.
		a.log.Error("enqueue failed; the outbox will retry", zap.String("message", code), zap.Error(err))
	}
	a.log.Info("message accepted", zap.String("message", code), zap.String("application", p.msg.App),
		zap.String("type", string(p.msg.Type)), zap.Int("recipients", p.msg.Recipients), zap.Bool("targeted", p.msg.Conditions != ""),
		zap.Bool("direct", p.msg.Direct), zap.Int("groups", len(p.msg.Groups)), zap.Time("send_at", p.msg.SendAt))
	return code, nil
}

// enqueueReplay enqueues the message of a transactionId replay whose
// first request stored it but never confirmed its enqueue (the API died in
// between): the retry, not the outbox sweep, gets it sent. Task ids are
// deterministic, so a task that does exist is not enqueued twice; a failure
// leaves it to the outbox sweeper, as for a new message.
func (a *API) enqueueReplay(ctx context.Context, app, code string) {
	m, err := a.Store.GetMessage(ctx, app, code)
	if err == nil && m.NothingToSend() {
		err = a.Store.OutboxDone(ctx, code)
	} else if err == nil {
		err = a.Enqueuer.Enqueue(ctx, m)
	}
	if err != nil {
		a.log.Error("replay: enqueue failed; the outbox will retry", zap.String("message", code), zap.Error(err))
	}
}

// parseSendDate reads send_date ("now" or "YYYY-MM-DD HH:mm" in timezone,
// UTC by default) and returns the UTC send time and the zone name.
func parseSendDate(sendDate, timezone string, now time.Time, field string) (time.Time, string, error) {
	loc := time.UTC
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil || strings.EqualFold(timezone, "local") {
			return time.Time{}, "", argError(field+".timezone", "unknown IANA time zone %q", timezone)
		}
		loc = l
	}
	switch {
	case sendDate == "":
		return time.Time{}, "", argError(field+".send_date", `required ("now" or YYYY-MM-DD HH:mm)`)
	case strings.EqualFold(sendDate, "now"):
		return now.UTC(), loc.String(), nil
	}
	t, err := time.ParseInLocation(sendDateLayout, sendDate, loc)
	if err != nil {
		return time.Time{}, "", argError(field+".send_date", `must be "now" or YYYY-MM-DD HH:mm, got %q`, sendDate)
	}
	if t.Before(now.Add(-pastTolerance)) {
		return time.Time{}, "", argError(field+".send_date", "%s is in the past", sendDate)
	}
	if t.After(now.Add(maxScheduleAhead)) {
		return time.Time{}, "", argError(field+".send_date", "%s is more than a year ahead", sendDate)
	}
	if t.Before(now) {
		t = now
	}
	return t.UTC(), loc.String(), nil
}
