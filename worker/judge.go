package worker

import (
	"slices"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// fate is what becomes of an SMS in this run; settle acts on it.
type fate int

const (
	fateSend     fate = iota // on its way: not stopped by any stage yet
	fateDone                 // not queued or sending: nothing to do
	fateExpire               // its validity ended (reason says how)
	fateSuppress             // policy keeps it from the phone (reason)
	fateDefer                // may not go yet (quiet hours): comes back at until
	fateFail                 // smsfleet's own failure (render, too long): outcome in composed
	fateWait                 // no provider can take it now: wait without using an attempt
	fateHeld                 // admit or Begin stopped it with an error (item.err), or Begin refused or capped it
	fateSent                 // a provider was called: deliver's sendResult says how it went
	fateRecord               // a provider accepted it in an earlier run whose record failed: record it (item.recorded)
)

// verdict is judge's decision about one SMS, and then its fate.
type verdict struct {
	fate   fate
	reason string
	// until is when a deferred SMS may go; zone is the recipient's time
	// zone when judge needed it.
	until time.Time
	delay time.Duration
	zone  *time.Location
}

// Reasons an SMS expires: codes of internal/outcomes/reasons.go, with
// any detail after ": ".
const (
	whyValidityEnded   = "expired_validity"
	whyValidityInQuiet = "quiet_hours"
	// whyValidityEndedAmbiguous is followed by the provider's name: it may
	// have been delivered there.
	whyValidityEndedAmbiguous = "ambiguous_attempt: "
)

// judge decides, from the loaded SMS, its application's resolved policy
// and the clock alone, whether the SMS may be sent now. It is pure: every
// policy rule of the send path lives here, once. The one rule it cannot
// decide is the frequency cap: concurrent sends to one phone must not
// overshoot it, so it is a count checked atomically by Begin (store's
// scriptBegin).
func judge(l store.Loaded, pol config.Resolved, now time.Time) verdict {
	if !l.Deadline.IsZero() && now.After(l.Deadline) {
		if l.LastAmbiguous && l.LastProvider != "" {
			// Never sent elsewhere (decision 17): expired, with the doubt said.
			return verdict{fate: fateExpire, reason: whyValidityEndedAmbiguous + l.LastProvider}
		}
		return verdict{fate: fateExpire, reason: whyValidityEnded}
	}
	if reason := suppression(l, pol); reason != "" {
		return verdict{fate: fateSuppress, reason: reason}
	}
	if l.Type == sms.Marketing && pol.Quiet.Set {
		zone := recipientZone(l)
		if quiet, end := pol.Quiet.Holds(now.In(zone)); quiet {
			if !l.Deadline.IsZero() && end.After(l.Deadline) {
				return verdict{fate: fateExpire, reason: whyValidityInQuiet}
			}
			return verdict{fate: fateDefer, until: end, delay: end.Sub(now), zone: zone,
				reason: "quiet hours " + pol.Quiet.String() + " in " + zone.String()}
		}
	}
	return verdict{fate: fateSend}
}

// recipientZone is the recipient's time zone: the device's, else the
// phone number's. It costs a phone-number parse, so it is looked up only
// for quiet hours or a template that renders dates.
func recipientZone(l store.Loaded) *time.Location {
	tz := ""
	if l.Device != nil {
		tz = l.Device.Timezone
	}
	return sms.Zone(tz, l.To, time.UTC)
}

// suppression says why policy keeps this SMS from its recipient, or "".
func suppression(l store.Loaded, pol config.Resolved) string {
	if optedOut(l, pol) && (l.Type != sms.OTP || !pol.OTPIgnoresOptOut) {
		return ReasonOptedOut
	}
	if l.Type == sms.Marketing && !consented(l.Device, pol.ConsentTag) {
		return ReasonNoConsent
	}
	return ""
}

// optedOut reports whether the phone opted out of this SMS: of its whole
// application, or of the sender it goes from (the From compose picks), as
// a STOP to that sender does (store/optouts.go).
func optedOut(l store.Loaded, pol config.Resolved) bool {
	if l.OptedOut {
		return true
	}
	if len(l.OptedOutFrom) == 0 {
		return false
	}
	from := senderOf(l, pol)
	if scope, ok := store.SenderScope(from); ok {
		from = scope
	}
	return slices.Contains(l.OptedOutFrom, from)
}

// consented reports whether the device's consent tag is true (true, "true",
// "yes", 1).
func consented(d *store.Device, tag string) bool {
	if d == nil {
		return false
	}
	switch string(d.Tags[tag]) {
	case "true", `"true"`, `"TRUE"`, `"True"`, `"yes"`, `"Yes"`, "1", `"1"`:
		return true
	}
	return false
}
