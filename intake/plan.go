package intake

import (
	"context"
	"encoding/json"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Capping bounds, as Pushwoosh's capping_days (at most 30) and a sane
// ceiling for capping_count.
const (
	maxCappingDays  = 30
	maxCappingCount = 1000
)

// planNotification validates one notification and resolves everything the
// write needs. It reads Redis (devices, presets) but writes nothing.
func (a *API) planNotification(ctx context.Context, app, field string, raw json.RawMessage) (plan, error) {
	var n notification
	if err := decodeArgs(raw, &n, field); err != nil {
		return plan{}, err
	}
	pol := a.Policy(app)
	typ, err := sms.ParseType(n.MessageType)
	if err != nil {
		return plan{}, argError(field+".message_type", "%v", err)
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
	sender, err := checkSender(n.Sender, field, pol)
	if err != nil {
		return plan{}, err
	}
	validity, err := checkValidity(n.Validity, field, typ, pol)
	if err != nil {
		return plan{}, err
	}
	wait := a.DeliveryWait
	if n.DeliveryWait != nil {
		if *n.DeliveryWait < 1 || *n.DeliveryWait > int64(config.MaxValidity/time.Second) {
			return plan{}, argError(field+".delivery_wait", "must be from 1 to 604800 seconds (7 days), got %d", *n.DeliveryWait)
		}
		wait = time.Duration(*n.DeliveryWait) * time.Second
	}
	callback, err := a.checkCallback(app, n.StatusCallback, field+".status_callback")
	if err != nil {
		return plan{}, err
	}
	days, count, err := checkCapping(n.CappingDays, n.CappingCount, field)
	if err != nil {
		return plan{}, err
	}
	placeholders, err := checkPlaceholders(n.DynamicContentPlaceholders, field+".dynamic_content_placeholders")
	if err != nil {
		return plan{}, err
	}
	text, err := a.composeContent(ctx, app, field, n.Content, n.Preset, pol)
	if err != nil {
		return plan{}, err
	}

	recipients, unknown, register, err := a.resolveRecipients(ctx, app, field, n)
	if err != nil {
		return plan{}, err
	}
	if len(recipients) > a.MaxRecipients {
		return plan{}, argError(field+".users", "resolves to %d recipients, more than the maximum of %d", len(recipients), a.MaxRecipients)
	}
	p := plan{
		msg: store.Message{
			App: app, Type: typ, Content: text.JSON(), Placeholders: placeholders, Sender: sender, SendAt: sendAt,
			Timezone: tz, TransactionID: n.TransactionID, Validity: validity, DeliveryWait: wait, CappingDays: days, CappingCount: count,
			ChunkSize: a.ChunkSize, StatusCallback: callback,
		},
		unknown: unknown, register: register,
	}
	scheduled := sendAt.After(now)
	switch {
	case len(recipients) == 1 && !scheduled:
		// One recipient sent now goes straight to its lane; anything else is
		// one dispatch task per send time (DESIGN.md decision 1).
		p.msg.Direct = true
		p.audiences = []store.Audience{{Zone: tz, SendAt: sendAt, Phones: recipients}}
	case scheduled && n.IgnoreUserTimezone != nil && !*n.IgnoreUserTimezone:
		loc, _ := time.LoadLocation(tz)
		p.audiences, err = a.localTimeGroups(ctx, app, recipients, sendAt.In(loc), loc, now)
		if err != nil {
			return plan{}, err
		}
		if len(p.audiences) > 0 {
			p.msg.SendAt = p.audiences[0].SendAt
		}
	case len(recipients) > 0:
		p.audiences = []store.Audience{{Zone: tz, SendAt: sendAt, Phones: recipients}}
	}
	return p, nil
}

// checkSender validates the notification's sender, or falls back to the
// application's default.
func checkSender(s, field string, pol config.Resolved) (string, error) {
	if s == "" {
		return pol.Sender, nil
	}
	norm, err := sms.NormalizeSender(s)
	if err != nil {
		return "", argError(field+".sender", "%v", err)
	}
	return norm, nil
}

// checkValidity reads `validity` (seconds), or the type's default.
func checkValidity(v *int64, field string, typ sms.Type, pol config.Resolved) (time.Duration, error) {
	if v == nil {
		return pol.Validity.For(string(typ)), nil
	}
	d := time.Duration(*v) * time.Second
	if d < config.MinValidity || d > config.MaxValidity {
		return 0, argError(field+".validity", "must be from 1 to 604800 seconds (7 days), got %d", *v)
	}
	return d, nil
}

// checkCapping reads capping_days and capping_count, which go together.
// They cap marketing SMS; on other types they are accepted and have no
// effect (a security code is never capped).
func checkCapping(days, count *int, field string) (int, int, error) {
	switch {
	case days == nil && count == nil:
		return 0, 0, nil
	case days == nil:
		return 0, 0, argError(field+".capping_days", "required with capping_count")
	case count == nil:
		return 0, 0, argError(field+".capping_count", "required with capping_days")
	case *days < 1 || *days > maxCappingDays:
		return 0, 0, argError(field+".capping_days", "must be from 1 to %d, got %d", maxCappingDays, *days)
	case *count < 1 || *count > maxCappingCount:
		return 0, 0, argError(field+".capping_count", "must be from 1 to %d, got %d", maxCappingCount, *count)
	}
	return *days, *count, nil
}
