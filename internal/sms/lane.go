package sms

import "fmt"

// Type is the kind of message a request declares (the `message_type`
// extension); it picks the Asynq lane so security codes never wait behind a
// campaign (docs/decisions.md#2).
type Type string

const (
	OTP           Type = "otp"
	Transactional Type = "transactional"
	Marketing     Type = "marketing"
)

// Queue names. DispatchQueue carries fan-out tasks, the others sends.
const DispatchQueue = "dispatch"

// ParseType validates a message_type; empty means transactional.
func ParseType(s string) (Type, error) {
	switch Type(s) {
	case "":
		return Transactional, nil
	case OTP, Transactional, Marketing:
		return Type(s), nil
	}
	return "", fmt.Errorf("must be one of otp, transactional, marketing, got %q", s)
}

// Queue is the Asynq queue that carries sends of this type.
func (t Type) Queue() string { return string(t) }

// Lanes are every Asynq queue a worker serves, OTP first.
var Lanes = []string{string(OTP), string(Transactional), string(Marketing), DispatchQueue}
