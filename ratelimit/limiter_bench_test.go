package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// BenchmarkLimiterAllow measures fleet decisions per second on one hot key
// from 32 goroutines (a worker pod's handlers), with a limit so large that
// every decision is allowed and charged, the expensive path. It also
// reports Redis round trips per decision, which must stay 1: that is the
// design constraint of the limiter.
//
//	go test -run '^$' -bench BenchmarkLimiterAllow -benchtime 3s ./ratelimit/
func BenchmarkLimiterAllow(b *testing.B) {
	const goroutines = 32
	r := testenv.NewRedis(b)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: goroutines})
	b.Cleanup(func() { _ = c.Close() })
	var rtt redisx.RoundTrips
	c.AddHook(&rtt)
	l := NewLimiter(c, Options{})
	ctx := context.Background()
	req := Request{Key: "op:bench", Limit: Limit{Rate: 1e9, Burst: 1_000_000}, Cost: 1}
	// Load the script (the first EVALSHA meets NOSCRIPT) and open the
	// connections before counting: a new connection's handshake (HELLO,
	// CLIENT ...) goes through the hooks too.
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range 20 {
				if _, err := l.Allow(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	var next atomic.Int64
	before := rtt.Count()
	b.ResetTimer()
	start := time.Now()
	for range goroutines {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				d, err := l.Allow(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				if !d.Allowed {
					b.Errorf("denied under a huge limit: %+v", d)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "decisions/s")
	b.ReportMetric(float64(rtt.Count()-before)/float64(b.N), "rtt/decision")
}
