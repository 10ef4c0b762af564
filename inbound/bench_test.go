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
