package provider

import (
	"errors"
	"time"
)

// ErrExpired is the cause of the error a provider returns, with nothing
// sent, for an SMS whose Request.Expires has passed by the time it would
// go out. The worker judges validity before it calls a provider, so this
// happens only in the moment between the two; the error is transient and
// not ambiguous (nothing was sent), and the SMS's next attempt is judged
// expired.
var ErrExpired = errors.New("validity ended before the SMS was handed over")

// Expiry is Request.Expires for an SMS whose deadline is deadline on a
// clock that reads now: the same time left, on the real clock providers
// run on. The worker judges validity on the fleet's clock, which tests
// inject (and move by hours); the carrier gets what that clock says is
// left. A zero deadline is none.
func Expiry(deadline, now time.Time) time.Time {
	if deadline.IsZero() {
		return time.Time{}
	}
	return time.Now().Add(deadline.Sub(now))
}

// remaining is what is left of the validity ending at expires, in whole
// seconds rounded down (so the carrier never holds the SMS past it); ok is
// false when there is no expiry, and expired true when under a second is
// left.
func remaining(expires, now time.Time) (left time.Duration, ok, expired bool) {
	if expires.IsZero() {
		return 0, false, false
	}
	left = expires.Sub(now).Truncate(time.Second)
	if left < time.Second {
		return 0, true, true
	}
	return left, true, false
}

// expiredError is the error of a provider refusing an expired SMS.
func expiredError(name string) *Error {
	return &Error{Provider: name, Class: Transient, Message: "not sent", Err: ErrExpired}
}
