package route

import (
	"context"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/worker/provider"
)

// BenchmarkSendThroughBreaker measures what the circuit breaker costs on
// the send path: the Twilio-style client against the simulator as a real
// HTTP server (httptest), called bare and through the breaker, from 32
// goroutines, in the same run. It reports sends/s and allocations per send
// for each and the ratio of the two.
//
//	go test -run '^$' -bench BenchmarkSendThroughBreaker -benchtime 20000x ./worker/route/
func BenchmarkSendThroughBreaker(b *testing.B) {
	sim := simulator.New("sim", 1000)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	rates := map[bool]float64{}
	for _, breakers := range []bool{false, true} {
		name := "breaker=off"
		if breakers {
			name = "breaker=on"
		}
		b.Run(name, func(b *testing.B) {
			p := provider.NewSimulator("sim", srv.URL+"/simulator", nil)
			m := New([]provider.Provider{p}, nil, config.NewBreaker(), breakers, zap.NewNop()).Member("sim")
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16) // 32 goroutines on 2 cores
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := "M." + strconv.FormatInt(seq.Add(1), 10)
					if _, err := m.Send(context.Background(), provider.Request{ID: id, To: "+4915112000002", From: "smsfleet", Text: "bench"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			rate := float64(b.N) / time.Since(start).Seconds()
			rates[breakers] = rate
			b.ReportMetric(rate, "sends/s")
			if off, ok := rates[false]; ok && breakers {
				b.ReportMetric(rate/off, "ratio-vs-off")
			}
		})
	}
}
