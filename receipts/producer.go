package receipts

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// Producer writes receipts to Kafka. kafka-go's Writer defaults are unsafe
// for this (no acks, a one-second batch): every write here waits for all
// in-sync replicas, and batches close after a few milliseconds so a
// webhook's answer is not held up.
type Producer struct{ w *kafka.Writer }

// NewProducer returns a producer for topic on brokers.
func NewProducer(brokers []string, topic string) *Producer {
	return &Producer{w: kafkax.NewWriter(brokers, topic)}
}

// Produce writes records and returns once Kafka has acknowledged them all.
func (p *Producer) Produce(ctx context.Context, recs ...sms.Receipt) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		v, err := encode(r)
		if err != nil {
			return err
		}
		msgs[i] = kafka.Message{Key: []byte(r.Provider + ":" + r.Ref), Value: v, Headers: receiptHeaders(r)}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("produce receipts: %w", err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Producer) Close() error { return p.w.Close() }

// SchemaVersion is the version of a receipt record's JSON
// (docs/events/receipt.schema.json).
const SchemaVersion = 1

// Source is the ce_source of receipt records, whichever role lands them
// (a webhook on the receipts role, an SMPP deliver_sm on a worker).
const Source = "/smsfleet/receipts"

// receiptHeaders are r's record headers (kafkax.Headers). Its ce_id is
// derived from what the provider reported, so a receipt the provider
// posts again (a webhook retried after a timeout) or the forwarder
// produces again keeps its id.
func receiptHeaders(r sms.Receipt) []kafka.Header {
	id := kafkax.StableID(r.Provider, r.Ref, string(r.Status), r.ErrorCode)
	return kafkax.Headers(kafkax.Meta{Type: kafkax.TypeReceipt, SchemaVersion: SchemaVersion, ID: id, Source: Source, Time: r.At})
}
