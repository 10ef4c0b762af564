package inbound

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestKafkaRedeliveryAppliesOnce: a consumer that dies after applying a
// batch and before committing it (the crash hook) leaves it to the next
// member of the group, which applies it again: every reply is still
// stored, forwarded and answered once. A record that is no reply goes to
// the dead-letter topic and blocks nothing.
func TestKafkaRedeliveryAppliesOnce(t *testing.T) {
	k := testenv.NewKafka(t, 1, Topic, TopicDLQ)
	p := newPipeline(t)
	prod := NewProducer([]string{k.Addr}, Topic)
	defer prod.Close()
	ctx := context.Background()
	replies := []Message{
		{ID: "k1", Provider: "gw", From: "+4915100000001", To: "SHOP", Text: "help", At: p.now},
		{ID: "k2", Provider: "gw", From: "+4915100000001", To: "SHOP", Text: "STOP", At: p.now},
		{ID: "k3", Provider: "gw", From: "+4915100000001", To: "SHOP", Text: "thanks", At: p.now},
	}
	if err := prod.Produce(ctx, replies...); err != nil {
		t.Fatal(err)
	}
	if err := prod.w.WriteMessages(ctx, kafkaMessage("not a reply")); err != nil {
		t.Fatal(err)
	}
	var applied atomic.Int64
	apply := func(ctx context.Context, m Message) error {
		applied.Add(1)
		return p.applier.Apply(ctx, m)
	}
	first := NewConsumer([]string{k.Addr}, Topic, "inbound-test", apply, zap.NewNop())
	first.crash = func(n int) bool { return n == len(replies) } // all applied, none committed
	if err := first.Run(ctx); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	if applied.Load() != 3 {
		t.Fatalf("the first consumer applied %d replies before its crash, want 3", applied.Load())
	}

	second := NewConsumer([]string{k.Addr}, Topic, "inbound-test", apply, zap.NewNop())
	defer second.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(runCtx) }()
	deadline := time.Now().Add(30 * time.Second)
	for applied.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if applied.Load() != 6 {
		t.Fatalf("%d applications, want the 3 replies redelivered once", applied.Load())
	}
	if got := p.counts(t, "+4915100000001"); got != (counts{stored: 3, callbacks: 3, answers: 2, optedOut: true}) {
		t.Fatalf("after the redelivery: %+v, want each reply once (2 answers: HELP and STOP)", got)
	}
	dead := readTopic(t, k.Addr, TopicDLQ, 1)
	if len(dead) != 1 || string(dead[0].Value) != "not a reply" {
		t.Fatalf("dead letters: %v", dead)
	}
}
