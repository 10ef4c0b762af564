package receipts

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Producer writes receipts to Kafka. kafka-go's Writer defaults are unsafe
// for this (no acks, a one-second batch): every write here waits for all
// in-sync replicas, and batches close after a few milliseconds so a
// webhook's answer is not held up.
type Producer struct{ w *kafka.Writer }

// NewProducer returns a producer for topic on brokers.
func NewProducer(brokers []string, topic string) *Producer {
	return &Producer{w: NewWriter(brokers, topic)}
}

// NewWriter returns a kafka-go writer for topic that waits for every
// in-sync replica, keeps one key's records in order, and closes batches
// after a few milliseconds; the outcomes relay writes with one too.
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{}, // by key: one SMS's receipts in one partition, in order
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		WriteTimeout: 5 * time.Second,
		MaxAttempts:  3,
	}
}

// Produce writes records and returns once Kafka has acknowledged them all.
func (p *Producer) Produce(ctx context.Context, recs ...Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		v, err := r.encode()
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

// Ping checks that a broker answers and knows topic, for readiness: the
// receipts role is no use while its webhooks would answer 503.
func Ping(ctx context.Context, brokers []string, topic string) error {
	var last error
	for _, b := range brokers {
		conn, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		_, err = conn.ReadPartitions(topic)
		_ = conn.Close()
		if err == nil {
			return nil
		}
		last = err
	}
	if last == nil {
		return fmt.Errorf("no Kafka brokers configured")
	}
	return fmt.Errorf("topic %s: %w", topic, last)
}
