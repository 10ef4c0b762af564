package quota

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
)

// BenchmarkReserve is the cost of the send-time step with all six quotas
// set (one Lua call per SMS), from parallel clients:
//
//	go test ./internal/quota/ -run x -bench Reserve -benchtime 20000x
func BenchmarkReserve(b *testing.B) {
	qs := config.Quotas{}
	for k := range config.NumQuotas {
		qs[k] = config.Quota{Limit: 1 << 40, WarnPercent: 80}
	}
	s, _ := newStore(b, qs, time.Date(2026, 5, 5, 5, 5, 0, 0, time.UTC))
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Reserve(context.Background(), app, fmt.Sprint("sms-", n.Add(1)), Use{SMS: 1, Segments: 2, Money: 90_000}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
