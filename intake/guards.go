package intake

import (
	"context"
	"fmt"
	"net/http"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// limitedMethods are the methods the intake rate limit counts: those that
// create messages. It counts requests, not SMS: the limit is taken after
// authentication and before any other work, when the SMS a request makes
// are not known yet (README "Guards").
var limitedMethods = map[string]bool{"createMessage": true, "createSMSMessage": true}

// guardRate takes one request of app from its intake token bucket: nil,
// or a 429 with Retry-After that names the limit.
func (a *API) guardRate(ctx context.Context, app, method string) error {
	if a.Guards == nil || !limitedMethods[method] {
		return nil
	}
	ref, wait, err := a.Guards.Rate.Take(ctx, app, a.Guards.Rules(app))
	if err != nil {
		return unavailable(err, msgUnavailable)
	}
	if ref == nil {
		return nil
	}
	a.Guards.Refused(ref)
	return &apiError{HTTP: http.StatusTooManyRequests, Code: http.StatusTooManyRequests, retryAfter: wait, Message: ref.Msg}
}

// guardSender resolves the notification's sender against the guards:
// given (resolved, already validated), one of guards.senders; absent, the
// guards' default_sender, else the policy's (fallback).
func (a *API) guardSender(app, field, given, resolved string) (string, error) {
	if a.Guards == nil {
		return resolved, nil
	}
	// resolved is checkSender's: the given sender normalized, or the
	// policy's default when none was given (then only the fallback).
	sender, fallback := resolved, ""
	if given == "" {
		sender, fallback = "", resolved
	}
	out, ref := a.Guards.Rules(app).Sender(sender, fallback)
	if ref != nil {
		a.Guards.Refused(ref)
		return "", argError(field+".sender", "%s", ref.Msg)
	}
	return out, nil
}

// guardDestinations checks the phones the request names (devices): each
// must be in an allowed country and outside the denied ranges, and an OTP
// must not take a phone or its prefix over its pumping cap. Phones known
// only at send time (users, conditions) are the worker's (worker/guards.go).
func (a *API) guardDestinations(ctx context.Context, app, field string, n notification, typ sms.Type) error {
	if a.Guards == nil || len(n.Devices) == 0 {
		return nil
	}
	rules := a.Guards.Rules(app)
	var phones []string
	var index []int
	seen := map[string]bool{}
	for i, d := range n.Devices {
		ph, err := sms.NormalizePhone(d, a.DefaultRegion)
		if err != nil {
			return argError(fmt.Sprintf("%s.devices[%d]", field, i), "%v", err)
		}
		if ref := rules.Destination(ph); ref != nil {
			a.Guards.Refused(ref)
			return argError(fmt.Sprintf("%s.devices[%d]", field, i), "%s", ref.Msg)
		}
		if !seen[ph] {
			seen[ph] = true
			phones, index = append(phones, ph), append(index, i)
		}
	}
	if typ != sms.OTP {
		return nil
	}
	at, ref, err := a.Guards.Pumping.Peek(ctx, app, rules, phones)
	if err != nil {
		return unavailable(err, msgUnavailable)
	}
	if ref != nil {
		a.Guards.Refused(ref)
		return argError(fmt.Sprintf("%s.devices[%d]", field, index[at]), "%s", ref.Msg)
	}
	return nil
}
