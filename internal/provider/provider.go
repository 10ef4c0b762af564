// Package provider defines how the worker hands an SMS to an SMS provider
// and how provider failures are classified (docs/decisions.md#5).
package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Request is one SMS to send. ID is the deterministic SMS id, which
// providers that support it receive as an idempotency key.
type Request struct {
	ID   string
	To   string
	From string
	Text string
	// Expires is when the SMS's validity ends (its deadline) on the
	// provider's clock, the real one (see Expiry); zero is none. Providers
	// pass what is left of it to the carrier (SMPP validity_period, Twilio
	// ValidityPeriod; validity.go), so an OTP the network cannot deliver in
	// time is dropped there instead of arriving hours late, and refuse an
	// SMS already past it (ErrExpired).
	Expires time.Time
}

// Result is a provider's acceptance of an SMS.
type Result struct {
	Provider string
	Ref      string // the provider's message reference; receipts name it
}

// Provider sends SMS. Implementations must be safe for concurrent use and
// return *Error for every failure so the worker can classify it.
type Provider interface {
	Name() string
	Send(ctx context.Context, req Request) (Result, error)
}

// Class says what a failure means for the SMS.
type Class int

const (
	// Transient failures (5xx, timeouts, resets) are retried with backoff.
	Transient Class = iota
	// Permanent failures (bad number, rejected content) fail the SMS at once.
	Permanent
	// Throttled means the provider wants us to slow down; retry later.
	Throttled
)

func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Throttled:
		return "throttled"
	}
	return "transient"
}

// Error is a classified provider failure.
type Error struct {
	Provider string
	Class    Class
	Code     string // the provider's own error code, when it gave one
	Message  string
	// Ambiguous marks a transient failure after which the provider may
	// still have accepted the SMS: a timeout or a connection lost after the
	// request was written. Failing over to another provider then risks a
	// duplicate on the phone, so the worker retries the same provider with
	// the same idempotency key instead. A refused connection or an HTTP 5xx
	// answer is not ambiguous: nothing was accepted.
	Ambiguous bool
	Err       error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Provider, e.Class)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsAmbiguous reports whether err may hide an accepted SMS (see Error).
// An unclassified error is ambiguous, the safe side.
func IsAmbiguous(err error) bool {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Ambiguous
	}
	return err != nil
}

// NetworkError classifies an error from sending a request: a failure to
// connect is clean (nothing reached the provider), anything after that is
// ambiguous. A canceled context is transient and ambiguous too: the worker
// is shutting down and the task will be redelivered with the same key.
func NetworkError(name string, err error) *Error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &Error{Provider: name, Class: Transient, Message: "cannot connect", Err: err}
	}
	return &Error{Provider: name, Class: Transient, Ambiguous: true, Message: "request failed", Err: err}
}

// StatusClass maps an HTTP status to a class: 2xx is no error; 429
// throttled; 5xx transient; 401 and 403 transient too, because bad
// credentials fail every SMS alike and must trip the breaker so traffic
// fails over (they are not the recipient's fault); other 4xx permanent.
func StatusClass(status int) Class {
	switch {
	case status == 429:
		return Throttled
	case status >= 500, status == 401, status == 403, status == 408:
		return Transient
	}
	return Permanent
}

// ClassOf returns the class of err; an unclassified error is transient, the
// safe side (retry rather than drop).
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return Transient
}
