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
	if err := checkFields(raw, field); err != nil {
		return plan{}, err
	}
	pol := a.Policy(app)
	now := a.Now()
	msg, err := a.checkNotification(app, field, n, pol, now)
	if err != nil {
		return plan{}, err
	}
	if err := a.guardDestinations(ctx, app, field, n, msg.Type); err != nil {
		return plan{}, err
	}
	text, err := a.composeContent(ctx, app, field, n.Content, n.Preset, pol)
	if err != nil {
		return plan{}, err
	}
	msg.Content = text.JSON()

	if t, targeted, err := targetingOf(n, field); err != nil {
		return plan{}, err
	} else if targeted {
		return planTargeted(msg, n, t, now, field)
	}
	recipients, unknown, register, err := a.resolveRecipients(ctx, app, field, n)
	if err != nil {
		return plan{}, err
	}
	if len(recipients) > a.MaxRecipients {
		return plan{}, argError(field+".users", "resolves to %d recipients, more than the maximum of %d", len(recipients), a.MaxRecipients)
	}
	p := plan{msg: msg, unknown: unknown, register: register}
	if p.audiences, err = a.audiences(ctx, &p.msg, n, recipients, now); err != nil {
		return plan{}, err
	}
	if err := a.checkQuota(ctx, app, field, p.audiences); err != nil {
		return plan{}, err
	}
	return p, nil
}

// checkNotification validates a notification's own fields, everything but
// its content and recipients, without any I/O, and returns the message
// they describe (no content yet).
func (a *API) checkNotification(app, field string, n notification, pol config.Resolved, now time.Time) (store.Message, error) {
	typ, err := sms.ParseType(n.MessageType)
	if err != nil {
		return store.Message{}, argError(field+".message_type", "%v", err)
	}
	sendAt, tz, err := parseSendDate(n.SendDate, n.Timezone, now, field)
	if err != nil {
		return store.Message{}, err
	}
	if len(n.TransactionID) > 128 {
		return store.Message{}, argError(field+".transactionId", "longer than 128 characters")
	}
	if err := a.checkAudience(app, field, n); err != nil {
		return store.Message{}, err
	}
	if len(n.Devices)+len(n.Users) > a.MaxRecipients {
		return store.Message{}, argError(field+".devices", "more than %d recipients", a.MaxRecipients)
	}
	sender, err := checkSender(n.Sender, field, pol)
	if err != nil {
		return store.Message{}, err
	}
	if sender, err = a.guardSender(app, field, n.Sender, sender); err != nil {
		return store.Message{}, err
	}
	validity, err := checkValidity(n.Validity, field, typ, pol)
	if err != nil {
		return store.Message{}, err
	}
	wait, err := checkDeliveryWait(n.DeliveryWait, field, a.DeliveryWait)
	if err != nil {
		return store.Message{}, err
	}
	callback, err := a.checkCallback(app, n.StatusCallback, field+".status_callback")
	if err != nil {
		return store.Message{}, err
	}
	days, count, err := checkCapping(n.CappingDays, n.CappingCount, field)
	if err != nil {
		return store.Message{}, err
	}
	placeholders, err := checkPlaceholders(n.DynamicContentPlaceholders, field+".dynamic_content_placeholders")
	if err != nil {
		return store.Message{}, err
	}
	sendRate, err := checkSendRate(n.SendRate, field)
	if err != nil {
		return store.Message{}, err
	}
	return store.Message{
		App: app, Type: typ, Placeholders: placeholders, Sender: sender, SendAt: sendAt,
		Timezone: tz, TransactionID: n.TransactionID, Validity: validity, DeliveryWait: wait, CappingDays: days, CappingCount: count,
		ChunkSize: a.ChunkSize, StatusCallback: callback, SendRate: sendRate, Redact: a.redactOf(app, n.Redact, typ),
	}, nil
}

// audiences splits a planned message's recipients into the groups it is
// written with, and marks it direct or moves its send time to match.
func (a *API) audiences(ctx context.Context, msg *store.Message, n notification, recipients []string, now time.Time) ([]store.Audience, error) {
	scheduled := msg.SendAt.After(now)
	switch {
	case len(recipients) == 1 && !scheduled:
		// One recipient sent now goes straight to its lane; anything else is
		// one dispatch task per send time (docs/decisions.md#1).
		msg.Direct = true
		return []store.Audience{{Zone: msg.Timezone, SendAt: msg.SendAt, Phones: recipients}}, nil
	case scheduled && n.IgnoreUserTimezone != nil && !*n.IgnoreUserTimezone:
		loc, _ := time.LoadLocation(msg.Timezone)
		groups, err := a.localTimeGroups(ctx, msg.App, recipients, msg.SendAt.In(loc), loc, now)
		if err != nil {
			return nil, err
		}
		if len(groups) > 0 {
			msg.SendAt = groups[0].SendAt
		}
		return groups, nil
	case len(recipients) > 0:
		return []store.Audience{{Zone: msg.Timezone, SendAt: msg.SendAt, Phones: recipients}}, nil
	}
	return nil, nil
}

// checkDeliveryWait reads `delivery_wait` (seconds), or the default def.
func checkDeliveryWait(v *int64, field string, def time.Duration) (time.Duration, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 || *v > int64(config.MaxValidity/time.Second) {
		return 0, argError(field+".delivery_wait", "must be from 1 to 604800 seconds (7 days), got %d", *v)
	}
	return time.Duration(*v) * time.Second, nil
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
	// Compare in seconds: *v * time.Second overflows int64 for large or
	// very negative values and could wrap into the allowed range.
	if *v < int64(config.MinValidity/time.Second) || *v > int64(config.MaxValidity/time.Second) {
		return 0, argError(field+".validity", "must be from 1 to 604800 seconds (7 days), got %d", *v)
	}
	return time.Duration(*v) * time.Second, nil
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
