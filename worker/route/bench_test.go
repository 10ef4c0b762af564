package route

import (
	"context"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// BenchmarkSendThroughBreaker measures what the circuit breaker costs on
// the send path: the Twilio-style client against the simulator as a real
// HTTP server (httptest), called bare and through the breaker from 32
// goroutines. The two modes run interleaved in ten rounds in the same run,
// so drift in the machine's load hits both alike; it reports sends/s and
// allocations per send of each and the ratio on/off.
//
//	go test -run '^$' -bench BenchmarkSendThroughBreaker -benchtime 20000x ./worker/route/
func BenchmarkSendThroughBreaker(b *testing.B) {
	sim := simulator.New("sim", 1000)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	p := provider.NewSimulator("sim", srv.URL+"/simulator", nil)
	members := map[bool]*Member{}
	for _, on := range []bool{false, true} {
		members[on] = New([]provider.Provider{p}, nil, config.Default().Breaker, on, zap.NewNop()).Member("sim")
	}
	var seq atomic.Int64
	run := func(m *Member, n int) (time.Duration, uint64) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mallocs := ms.Mallocs
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range 32 {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					id := "M." + strconv.FormatInt(seq.Add(1), 10)
					if _, err := m.Send(context.Background(), provider.Request{ID: id, To: "+4915112000002", From: "smsfleet", Text: "bench"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		runtime.ReadMemStats(&ms)
		return d, ms.Mallocs - mallocs
	}
	const rounds = 10
	per := max(b.N/(2*rounds), 1)
	var took [2]time.Duration
	var allocs [2]uint64
	b.ResetTimer()
	for r := range rounds {
		for _, on := range []bool{r%2 == 0, r%2 != 0} { // alternate which goes first
			d, a := run(members[on], per)
			idx := 0
			if on {
				idx = 1
			}
			took[idx] += d
			allocs[idx] += a
		}
	}
	n := float64(per * rounds)
	off, on := n/took[0].Seconds(), n/took[1].Seconds()
	b.ReportMetric(off, "off-sends/s")
	b.ReportMetric(on, "on-sends/s")
	b.ReportMetric(on/off, "ratio-on/off")
	b.ReportMetric(float64(allocs[0])/n, "off-allocs/send")
	b.ReportMetric(float64(allocs[1])/n, "on-allocs/send")
}
