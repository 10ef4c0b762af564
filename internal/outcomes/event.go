// Package outcomes tells senders what became of each SMS. Every SMS that
// reaches delivered, undelivered, failed, expired, suppressed, unknown or
// canceled produces one event: to the Kafka topic smsfleet.outcomes (a journey
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

	"github.com/segmentio/kafka-go"

	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Topic is the Kafka topic of outcome events, keyed by SMS id.
const Topic = "smsfleet.outcomes"

// SchemaVersion is the version of Event's JSON
// (docs/events/outcome.schema.json): the schema-version header and the
// ".v1" of ce_type io.smsfleet.sms.outcome.v1.
const SchemaVersion = 1

// Source is the ce_source of outcome events: the relay in whatever role
// and replica runs it, so a redelivered event keeps (ce_source, ce_id).
const Source = "/smsfleet/outcomes"

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
	Status string `json:"status"`
	// Reason is a code from docs/events/README.md (reasons.go); Detail
	// is the free text that explains it, if any (a provider's error, a
	// receipt's error code).
	Reason   string    `json:"reason,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Provider string    `json:"provider,omitempty"`
	Time     time.Time `json:"time"`
}

// FromStore turns a stored outcome into its event.
func FromStore(o store.OutcomeEvent) Event {
	reason, detail := SplitReason(o.Reason)
	return Event{
		EventID: o.SMSID + ":" + string(o.Status), MessageCode: o.Code, SMSID: o.SMSID, Application: o.App,
		Phone: o.Phone, Status: string(o.Status), Reason: reason, Detail: detail, Provider: o.Provider, Time: o.At.UTC(),
	}
}

// headers are the Kafka headers of e's record (kafkax.Headers): ce_id is
// the event id, the same on every redelivery.
func (e Event) headers() []kafka.Header {
	return kafkax.Headers(kafkax.Meta{Type: kafkax.TypeOutcome, SchemaVersion: SchemaVersion, ID: e.EventID, Source: Source, Time: e.Time})
}
