// Package receipts lands providers' delivery receipts (DLRs) in Kafka and
// applies them to the delivery state: webhooks answer 2xx only once Kafka
// has the receipt, so none is lost when the state store is slow or down,
// and a consumer group applies them in batches, committing offsets only
// after the writes (DESIGN.md decision 8).
package receipts

import (
	"encoding/json"
	"fmt"
	"time"
)

// Topic names.
const (
	Topic    = "smsfleet.receipts"
	TopicDLQ = "smsfleet.receipts.dlq"
)

// Record is a normalised receipt as it travels through Kafka, keyed by the
// provider reference so one SMS's receipts stay in order.
type Record struct {
	Provider string `json:"provider"`
	Ref      string `json:"ref"`
	// Status is "delivered", "undelivered", or an intermediate provider
	// status ("sent", "queued", ...) that moves nothing.
	Status    string    `json:"status"`
	ErrorCode string    `json:"error_code,omitempty"`
	At        time.Time `json:"at"`
}

// Final reports whether the record moves an SMS.
func (r Record) Final() bool { return r.Status == "delivered" || r.Status == "undelivered" }

func (r Record) encode() ([]byte, error) { return json.Marshal(r) }

func decode(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("receipt record: %w", err)
	}
	if r.Provider == "" || r.Ref == "" || r.Status == "" {
		return Record{}, fmt.Errorf("receipt record: provider, ref and status are required")
	}
	return r, nil
}
