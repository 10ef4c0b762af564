package inbound

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func kafkaMessage(v string) kafka.Message { return kafka.Message{Key: []byte("k"), Value: []byte(v)} }

// readTopic reads want records of topic from the start (partition 0).
func readTopic(t *testing.T, addr, topic string, want int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			break
		}
		out = append(out, m)
	}
	return out
}
