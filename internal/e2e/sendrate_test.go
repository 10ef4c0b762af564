package e2e

import (
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// TestSendRateMessageIsSentWhole (issue 16): through the whole fleet, a
// message with send_rate (Pushwoosh's createMessage throttling, 100 to
// 1000 per second, docs.pushwoosh.com/docs/createmessage) reaches every
// recipient once, beside a message without one: the workers' per-message
// limiter defers its SMS and brings them back, losing none. Its pacing is
// tested on an injected clock in worker/sendrate_test.go and
// ratelimit/message_test.go.
func TestSendRateMessageIsSentWhole(t *testing.T) {
	e := harness.New(t)
	ph := harness.Phones(1800, 40)
	e.Register(harness.ShopApp, harness.ShopToken, ph...)
	rated := e.Send(map[string]any{"send_date": "now", "content": "paced", "devices": ph[:30], "send_rate": 100})
	free := e.Send(map[string]any{"send_date": "now", "content": "unpaced", "devices": ph[30:]})
	e.WaitCounts(free, map[string]int64{"sent": 10}, 20*time.Second)
	e.WaitCounts(rated, map[string]int64{"sent": 30}, 20*time.Second)
	for _, p := range ph {
		if got := e.Sim.Messages(p, 10); len(got) != 1 {
			t.Fatalf("%s got %d SMS, want 1", p, len(got))
		}
	}
}
