package intake

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/targeting"
)

// Tag conditions (createMessage's "conditions", issue 16) are validated
// here and stored with the message; the message's dispatch evaluates them
// against the application's devices when it goes out
// (dispatcher/targeted.go), so the request never walks the devices and a
// scheduled message reaches the devices that match at its send time. The
// operators and how they combine are in internal/targeting.

// parseTargeting validates conditions and conditions_operator: a 210
// naming the condition at fault.
func parseTargeting(raw json.RawMessage, operator, field string) (targeting.Targeting, error) {
	t, err := targeting.Parse(raw, operator, field)
	var te *targeting.Error
	if errors.As(err, &te) {
		return t, argError(te.Field, "%s", te.Msg)
	}
	return t, err
}

// targetingOf is the targeting of a notification that names no devices or
// users: its conditions, or none (a broadcast, which checkAudience let
// through only for an application that allows it). ok is false for a
// notification with devices or users.
func targetingOf(n notification, field string) (t targeting.Targeting, ok bool, err error) {
	switch {
	case hasConditions(n):
		t, err = parseTargeting(n.Conditions, n.ConditionsOperator, field)
		return t, true, err
	case len(n.Devices) == 0 && len(n.Users) == 0:
		return targeting.Targeting{}, true, nil
	}
	return t, false, nil
}

// planTargeted plans a targeted notification: the message and its one
// group, due at its send time, with no recipients yet and its targeting
// stored for the dispatch.
func planTargeted(msg store.Message, n notification, t targeting.Targeting, now time.Time, field string) (plan, error) {
	if msg.SendAt.After(now) && n.IgnoreUserTimezone != nil && !*n.IgnoreUserTimezone {
		// Local-time groups need each recipient's time zone at the request;
		// a targeted message's recipients are found only when it goes out.
		return plan{}, argError(field+".ignore_user_timezone", "cannot be false with conditions or a broadcast: their recipients are found "+
			"when the message goes out, at send_date in its timezone (name devices or users to send at each one's local time)")
	}
	msg.Conditions = t.Encode()
	return plan{msg: msg, audiences: []store.Audience{{Zone: msg.Timezone, SendAt: msg.SendAt}}}, nil
}
