package intake

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// hasConditions reports whether the notification targets by tag.
func hasConditions(n notification) bool {
	return len(n.Conditions) > 0 && string(n.Conditions) != "null"
}

// checkAudience validates who a notification is for, without I/O: its
// devices or users, or its conditions (not both), or nobody named at all,
// which is a broadcast to every device and needs the application's
// allow_broadcast.
func (a *API) checkAudience(app, field string, n notification) error {
	named := len(n.Devices) > 0 || len(n.Users) > 0
	switch {
	case hasConditions(n) && named:
		// Pushwoosh ignores conditions next to devices; guessing which the
		// caller meant could reach people they did not choose.
		return argError(field+".conditions", "cannot be combined with devices or users: send one or the other")
	case hasConditions(n):
		_, err := parseTargeting(n.Conditions, n.ConditionsOperator, field)
		return err
	case n.ConditionsOperator != "":
		return argError(field+".conditions_operator", "needs conditions")
	case !named && !a.apps[app].AllowBroadcast:
		return argError(field+".devices", "devices, users or conditions required: a notification without them goes to every SMS device "+
			"of the application (Pushwoosh's \"all subscribers\"), which needs allow_broadcast: true for it in the configuration file")
	}
	return nil
}

// resolveRecipients turns a notification's devices and users into
// deduplicated E.164 recipients (a targeted one's are found at its
// dispatch, planTargeted): unknown devices are reported (and
// registered instead when auto-registration is on).
func (a *API) resolveRecipients(ctx context.Context, app, field string, n notification) (recipients, unknown, register []string, err error) {
	seen := make(map[string]bool, len(n.Devices))
	var devices []string
	for i, d := range n.Devices {
		ph, err := sms.NormalizePhone(d, a.DefaultRegion)
		if err != nil {
			return nil, nil, nil, argError(fmt.Sprintf("%s.devices[%d]", field, i), "%v", err)
		}
		if !seen[ph] {
			seen[ph] = true
			devices = append(devices, ph)
		}
	}
	for i, u := range n.Users {
		if u == "" {
			return nil, nil, nil, argError(fmt.Sprintf("%s.users[%d]", field, i), "empty user id")
		}
	}
	known, err := a.Store.KnownPhones(ctx, app, devices)
	if err != nil {
		return nil, nil, nil, err
	}
	for i, ph := range devices {
		switch {
		case known[i]:
			recipients = append(recipients, ph)
		case n.UseAutoRegistration:
			register = append(register, ph)
			recipients = append(recipients, ph)
		default:
			unknown = append(unknown, ph)
		}
	}
	if len(n.Users) > 0 {
		phones, err := a.Store.PhonesOfUsers(ctx, app, n.Users)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, list := range phones {
			for _, ph := range list {
				if !seen[ph] {
					seen[ph] = true
					recipients = append(recipients, ph)
				}
			}
		}
	}
	return recipients, unknown, register, nil
}

// localTimeGroups splits recipients by the instant send_date's wall clock
// reaches in their own time zone (the device's, else the number's, else
// the notification's): one dispatch task per group (docs/decisions.md#1).
// A group whose local time has already passed goes now.
func (a *API) localTimeGroups(ctx context.Context, app string, recipients []string, wall time.Time, fallback *time.Location, now time.Time) ([]store.Audience, error) {
	zones, err := a.Store.DeviceZones(ctx, app, recipients)
	if err != nil {
		return nil, err
	}
	byInstant := map[int64]*store.Audience{}
	for i, ph := range recipients {
		loc := sms.Zone(zones[i], ph, fallback)
		at := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), 0, 0, loc).UTC()
		if at.Before(now) {
			at = now.UTC()
		}
		g := byInstant[at.UnixMilli()]
		if g == nil {
			g = &store.Audience{Zone: loc.String(), SendAt: at}
			byInstant[at.UnixMilli()] = g
		}
		g.Phones = append(g.Phones, ph)
	}
	out := make([]store.Audience, 0, len(byInstant))
	for _, g := range byInstant {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SendAt.Before(out[j].SendAt) })
	return out, nil
}
