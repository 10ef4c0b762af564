package inbound

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkApplyReply measures the consumer's apply step for a reply that
// is a message (stored and forwarded) on a real redis-server: what bounds
// one consumer's replies per second.
func BenchmarkApplyReply(b *testing.B) {
	p := newPipelineTB(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		m := Message{ID: fmt.Sprintf("b%d", i), Provider: "gw", From: fmt.Sprintf("+49151%08d", i%1000), To: "SHOP", Text: "Where is my parcel?", At: p.now}
		if err := p.applier.Apply(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyThrottledHelp measures the same step for a HELP flood
// from one phone: after the first, every reply is stored, forwarded and
// throttled (no SMS written), so a flood costs the consumer about what a
// message reply does, and the fleet no SMS.
func BenchmarkApplyThrottledHelp(b *testing.B) {
	p := newPipelineTB(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		m := Message{ID: fmt.Sprintf("h%d", i), Provider: "gw", From: "+4915100000001", To: "SHOP", Text: "HELP", At: p.now}
		if err := p.applier.Apply(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	msgs, _, err := p.st.ListMessages(ctx, shop, 10, 0)
	if err != nil || len(msgs) != 1 {
		b.Fatalf("%d answers written for %d HELP (%v), want 1", len(msgs), b.N, err)
	}
}
