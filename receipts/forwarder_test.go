package receipts

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestForwarderLandsConnectionReceiptsInKafka: receipts from an SMPP
// connection go to the receipts topic like the webhooks' do; with Kafka
// gone they are applied directly instead of being lost.
func TestForwarderLandsConnectionReceiptsInKafka(t *testing.T) {
	var mu sync.Mutex
	var direct []sms.Receipt
	fallback := func(_ context.Context, r sms.Receipt) error {
		mu.Lock()
		defer mu.Unlock()
		direct = append(direct, r)
		return nil
	}
	directCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(direct)
	}
	tests := []struct {
		name       string
		kafkaDown  bool
		wantTopic  int
		wantDirect int
	}{
		{"kafka up: every receipt in the topic", false, 50, 0},
		{"kafka down: every receipt applied directly", true, 0, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			direct = nil
			mu.Unlock()
			k, err := testenv.StartKafka(3, Topic)
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			p := NewProducer([]string{k.Addr}, Topic)
			p.w.WriteTimeout = time.Second
			if tt.kafkaDown {
				k.Close()
			}
			fw := NewForwarder(p, 1000, fallback, zap.NewNop())
			for i := range 50 {
				fw.Submit(sms.Receipt{Provider: "smsc", Ref: fmt.Sprintf("M%d", i), Status: "delivered", At: time.Now()})
			}
			if err := fw.Close(); err != nil { // flushes what is buffered
				t.Fatal(err)
			}
			_ = p.Close()
			if got := directCount(); got != tt.wantDirect {
				t.Fatalf("%d receipts applied directly, want %d", got, tt.wantDirect)
			}
			if !tt.kafkaDown {
				if got := readAll(t, k, Topic, tt.wantTopic); len(got) != tt.wantTopic {
					t.Fatalf("%d receipts in the topic, want %d", len(got), tt.wantTopic)
				}
			}
		})
	}
}

// TestForwarderRunProducesWhileRunning: under a supervisor the forwarder
// produces as receipts come (not only at Close), and Run returns nil when
// its context ends.
func TestForwarderRunProducesWhileRunning(t *testing.T) {
	k := testenv.NewKafka(t, 3, Topic)
	p := NewProducer([]string{k.Addr}, Topic)
	defer p.Close()
	fw := NewForwarder(p, 100, func(context.Context, sms.Receipt) error {
		t.Error("applied directly with Kafka up")
		return nil
	}, zap.NewNop())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	for i := range 10 {
		fw.Submit(sms.Receipt{Provider: "smsc", Ref: fmt.Sprintf("R%d", i), Status: "delivered", At: time.Now()})
	}
	if got := readAll(t, k, Topic, 10); len(got) != 10 {
		t.Fatalf("%d receipts in the topic while Run ran, want 10", len(got))
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}
