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
		msgs[i] = kafka.Message{Key: []byte(r.Provider + ":" + r.Ref), Value: v}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("produce receipts: %w", err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Producer) Close() error { return p.w.Close() }
