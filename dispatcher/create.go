package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
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
	SendDate            string          `json:"send_date"`
	Timezone            string          `json:"timezone"`
	Content             json.RawMessage `json:"content"`
	Devices             stringList      `json:"devices"`
	Users               stringList      `json:"users"`
	TransactionID       string          `json:"transactionId"`
	UseAutoRegistration bool            `json:"use_auto_registration"`
	MessageType         string          `json:"message_type"`
	Platforms           []int           `json:"platforms"`
}

type createRequest struct {
	Notifications []json.RawMessage `json:"notifications"`
}

// plan is a validated notification, ready to be written.
type plan struct {
	msg        store.Message
	recipients []string
	unknown    []string // devices not registered (skipped unless auto-registered)
	register   []string // devices to auto-register before writing
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
	if len(req.Notifications) == 0 {
		return nil, argError("notifications", "required (at least one notification)")
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

func (a *API) planNotification(ctx context.Context, app, field string, raw json.RawMessage) (plan, error) {
	var n notification
	if err := decodeArgs(raw, &n, field); err != nil {
		return plan{}, err
	}
	typ, err := sms.ParseType(n.MessageType)
	if err != nil {
		return plan{}, argError(field+".message_type", "%v", err)
	}
	content, err := parseContent(n.Content, field+".content")
	if err != nil {
		return plan{}, err
	}
	now := a.Now()
	sendAt, tz, err := parseSendDate(n.SendDate, n.Timezone, now, field)
	if err != nil {
		return plan{}, err
	}
	if len(n.TransactionID) > 128 {
		return plan{}, argError(field+".transactionId", "longer than 128 characters")
	}
	if len(n.Devices) == 0 && len(n.Users) == 0 {
		return plan{}, argError(field+".devices", "devices or users required (at least one phone number or user id)")
	}
	if len(n.Devices)+len(n.Users) > a.MaxRecipients {
		return plan{}, argError(field+".devices", "more than %d recipients", a.MaxRecipients)
	}

	p := plan{msg: store.Message{App: app, Type: typ, Content: content, SendAt: sendAt, Timezone: tz, TransactionID: n.TransactionID, ChunkSize: a.ChunkSize}}
	seen := make(map[string]bool, len(n.Devices))
	var devices []string
	for i, d := range n.Devices {
		ph, err := sms.NormalizePhone(d, a.DefaultRegion)
		if err != nil {
			return plan{}, argError(fmt.Sprintf("%s.devices[%d]", field, i), "%v", err)
		}
		if !seen[ph] {
			seen[ph] = true
			devices = append(devices, ph)
		}
	}
	known, err := a.Store.KnownPhones(ctx, app, devices)
	if err != nil {
		return plan{}, err
	}
	for i, ph := range devices {
		switch {
		case known[i]:
			p.recipients = append(p.recipients, ph)
		case n.UseAutoRegistration:
			p.register = append(p.register, ph)
			p.recipients = append(p.recipients, ph)
		default:
			p.unknown = append(p.unknown, ph)
		}
	}
	if len(n.Users) > 0 {
		for i, u := range n.Users {
			if u == "" {
				return plan{}, argError(fmt.Sprintf("%s.users[%d]", field, i), "empty user id")
			}
		}
		phones, err := a.Store.PhonesOfUsers(ctx, app, n.Users)
		if err != nil {
			return plan{}, err
		}
		for _, list := range phones {
			for _, ph := range list {
				if !seen[ph] {
					seen[ph] = true
					p.recipients = append(p.recipients, ph)
				}
			}
		}
	}
	if len(p.recipients) > a.MaxRecipients {
		return plan{}, argError(field+".users", "resolves to %d recipients, more than the maximum of %d", len(p.recipients), a.MaxRecipients)
	}
	// One recipient sent now goes straight to its lane; anything else is one
	// dispatch task at its send date (DESIGN.md decision 1).
	p.msg.Direct = len(p.recipients) == 1 && !sendAt.After(now)
	return p, nil
}

// write stores one planned message and enqueues its task. A stored message
// sits in the outbox until its task is enqueued, so a crash between the two
// is repaired by the outbox sweeper rather than losing the message.
func (a *API) write(ctx context.Context, p plan) (string, error) {
	if len(p.register) > 0 {
		if err := a.Store.RegisterDevices(ctx, p.msg.App, p.register); err != nil {
			return "", err
		}
	}
	code, err := sms.NewMessageCode()
	if err != nil {
		return "", err
	}
	p.msg.Code = code
	code, created, err := a.Store.CreateMessage(ctx, &p.msg, p.recipients)
	if err != nil {
		return "", err
	}
	if !created {
		a.log.Info("transactionId seen before: returning its message", zap.String("message", code), zap.String("application", p.msg.App))
		return code, nil
	}
	if len(p.recipients) == 0 {
		_ = a.Store.OutboxDone(ctx, code)
		return code, nil
	}
	if err := a.enq.Enqueue(ctx, p.msg); err != nil {
		// Stored and in the outbox: the sweeper will enqueue it. The client
		// must not retry into a second message, so this is still a success.
		a.log.Error("enqueue failed; the outbox will retry", zap.String("message", code), zap.Error(err))
	}
	a.log.Info("message accepted", zap.String("message", code), zap.String("application", p.msg.App),
		zap.String("type", string(p.msg.Type)), zap.Int("recipients", len(p.recipients)),
		zap.Bool("direct", p.msg.Direct), zap.Time("send_at", p.msg.SendAt))
	return code, nil
}

// parseContent accepts a non-empty string. Localised content objects come
// with presets and languages (issue 3).
func parseContent(raw json.RawMessage, field string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", argError(field, "required (the SMS text)")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", argError(field, "must be a string")
	}
	if strings.TrimSpace(s) == "" {
		return "", argError(field, "must not be empty")
	}
	return s, nil
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
