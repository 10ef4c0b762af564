// Package kafkax holds smsfleet's Kafka settings shared by every writer
// (receipts, outcome events) and the readiness check.
package kafkax

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// NewWriter returns a kafka-go writer for topic that waits for every
// in-sync replica, keeps one key's records in order, and closes batches
// after a few milliseconds. kafka-go's Writer defaults are unsafe for
// smsfleet's records (no acks, a one-second batch). The receipts producer
// and the outcomes relay both write with one.
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
