// Package provider defines how the worker hands an SMS to an SMS provider
// and how provider failures are classified (DESIGN.md decision 5).
package provider

import (
	"context"
	"errors"
	"fmt"
)

// Request is one SMS to send. ID is the deterministic SMS id, which
// providers that support it receive as an idempotency key.
type Request struct {
	ID   string
	To   string
	From string
	Text string
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
	Err      error
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

// ClassOf returns the class of err; an unclassified error is transient, the
// safe side (retry rather than drop).
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return Transient
}
