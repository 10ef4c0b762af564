package receipts

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

func TestKafkaGoAgainstKfake(t *testing.T) {
	k := testenv.NewKafka(t, 3, "t1")
	w := &kafka.Writer{Addr: kafka.TCP(k.Addr), Topic: "t1", RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, Balancer: &kafka.Hash{}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 10 {
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte{byte(i)}, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr}, GroupID: "g", Topic: "t1", MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for i := range 10 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}
