// Package outcomes tells senders what became of each SMS. Every SMS that
// reaches delivered, undelivered, failed, expired, suppressed or unknown
// produces one event: to the Kafka topic smsfleet.outcomes (a journey
// builder splits on "delivered within N" with it), and, when its
// notification asked, to a status_callback URL, signed and retried.
//
// The events come from a Redis stream that the status machine appends to
// atomically with each move (internal/store/outcomes.go); the Relay here
// publishes them at least once, and the callback tasks carry deterministic
// ids, so each outcome reaches a receiver once in the normal course and at
// worst again after a crash, always with the same event_id to deduplicate on.
package outcomes

import (
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
)

// Topic is the Kafka topic of outcome events, keyed by SMS id.
const Topic = "smsfleet.outcomes"

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" keyed
// with the application's callback secret.
const SignatureHeader = "X-Smsfleet-Signature"

// Event is the JSON of one outcome, on the topic and in callbacks alike.
type Event struct {
	// EventID is the SMS id and the status: stable across redeliveries,
	// so a receiver deduplicates on it.
	EventID     string `json:"event_id"`
	MessageCode string `json:"message_code"`
	SMSID       string `json:"sms_id"`
	Application string `json:"application"`
	// Phone is the recipient's E.164 number; PhoneHash replaces it for an
	// application with hash_numbers (hash.go).
	Phone     string `json:"phone,omitempty"`
	PhoneHash string `json:"phone_hash,omitempty"`
	// Status is the SMS's new status; Reason says why (for unknown it is
	// not_delivered_within_wait: the operator sent no receipt in time).
	Status   string    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	Provider string    `json:"provider,omitempty"`
	Time     time.Time `json:"time"`
}

// FromStore turns a stored outcome into its event.
func FromStore(o store.OutcomeEvent) Event {
	return Event{
		EventID: o.SMSID + ":" + string(o.Status), MessageCode: o.Code, SMSID: o.SMSID, Application: o.App,
		Phone: o.Phone, Status: string(o.Status), Reason: o.Reason, Provider: o.Provider, Time: o.At.UTC(),
	}
}
