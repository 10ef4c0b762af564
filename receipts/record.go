// Package receipts lands providers' delivery receipts (DLRs) in Kafka and
// applies them to the delivery state: webhooks answer 2xx only once Kafka
// has the receipt, so none is lost when the state store is slow or down,
// and a consumer group applies them in batches, committing offsets only
// after the writes (docs/decisions.md#8).
package receipts

import (
	"encoding/json"
	"fmt"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Topic names.
const (
	Topic    = "smsfleet.receipts"
	TopicDLQ = "smsfleet.receipts.dlq"
)

// encode is a receipt as it travels through Kafka (sms.Receipt's JSON),
// keyed by the provider reference so one SMS's receipts stay in order.
func encode(r sms.Receipt) ([]byte, error) { return json.Marshal(r) }

func decode(b []byte) (sms.Receipt, error) {
	var r sms.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		return sms.Receipt{}, fmt.Errorf("receipt record: %w", err)
	}
	if r.Provider == "" || r.Ref == "" || r.Status == "" {
		return sms.Receipt{}, fmt.Errorf("receipt record: provider, ref and status are required")
	}
	return r, nil
}
