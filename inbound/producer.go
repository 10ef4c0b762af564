package inbound

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/metrics"
)

// Producer lands replies in Kafka (SMSFLEET_INBOUND_TOPIC) with the
// fleet's safe writer settings (every in-sync replica acknowledges).
type Producer struct{ w *kafka.Writer }

// NewProducer returns a producer for topic on brokers.
func NewProducer(brokers []string, topic string) *Producer {
	return &Producer{w: kafkax.NewWriter(brokers, topic)}
}

// Produce writes ms and returns once Kafka has acknowledged them all.
// Records are keyed by the phone, so one phone's replies (a STOP, then a
// START) are applied in the order they came.
func (p *Producer) Produce(ctx context.Context, ms ...Message) error {
	out := make([]kafka.Message, len(ms))
	for i, m := range ms {
		v, err := encode(m)
		if err != nil {
			return fmt.Errorf("inbound record %s: %w", m.ID, err)
		}
		out[i] = kafka.Message{Key: []byte(m.From), Value: v, Headers: kafkax.Headers(kafkax.Meta{Type: kafkax.TypeInbound, SchemaVersion: 1, ID: m.ID, Source: "/smsfleet/inbound", Time: m.At})}
	}
	if err := p.w.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("produce inbound replies: %w", err)
	}
	metrics.InboundLanded.WithLabelValues("kafka").Add(float64(len(ms)))
	return nil
}

// Close flushes and closes the writer.
func (p *Producer) Close() error { return p.w.Close() }
