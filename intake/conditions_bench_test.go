package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// BenchmarkConditionsOverDevices measures conditions targeting over a
// large application (SMSFLEET_BENCH_DEVICES, default 1,000,000 devices,
// one in ten tagged City=London): the time and the memory one evaluation
// takes, against a bare SSCAN of the same device set in the same run (the
// floor: reading the set at all). It reports ns per device, the ratio to
// the bare scan, and the peak growth of the live heap while it ran (the
// matches themselves included: a tenth of the devices). Run by hand:
//
//	go test -run '^$' -bench BenchmarkConditionsOverDevices -benchtime 3x ./intake/
func BenchmarkConditionsOverDevices(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SMSFLEET_BENCH_DEVICES")); err == nil && v > 0 {
		n = v
	}
	r := testenv.NewRedis(b)
	st := store.New(r.Client(b), 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	a := newAPIWith(st)
	a.MaxRecipients = n
	phones := make([]string, 0, 10_000)
	for i := range n {
		phones = append(phones, fmt.Sprintf("+49151%08d", i))
		if len(phones) == cap(phones) || i == n-1 {
			if err := st.RegisterDevices(ctx, shop, phones); err != nil {
				b.Fatal(err)
			}
			phones = phones[:0]
		}
	}
	for i := 0; i < n; i += 10 {
		if err := st.SetTags(ctx, shop, fmt.Sprintf("+49151%08d", i), map[string]json.RawMessage{"City": json.RawMessage(`"London"`)}); err != nil {
			b.Fatal(err)
		}
	}
	t, err := parseTargeting(json.RawMessage(`[["City","EQ","London"]]`), "", "n")
	if err != nil {
		b.Fatal(err)
	}
	var scanNs, targetNs float64
	var peak uint64
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		var cursor uint64
		for {
			_, next, err := r.Client(b).SScan(ctx, "sf:ds:"+shop, cursor, "", store.ScanBatch).Result()
			if err != nil {
				b.Fatal(err)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		scanNs += float64(time.Since(start).Nanoseconds())

		runtime.GC()
		base := heapBytes()
		stop, peakc := samplePeak()
		start = time.Now()
		got, err := a.targetDevices(ctx, shop, "n", t)
		targetNs += float64(time.Since(start).Nanoseconds())
		close(stop)
		if p := <-peakc; p > base {
			peak = max(peak, p-base)
		}
		if err != nil || len(got) != (n+9)/10 {
			b.Fatalf("matched %d (%v), want %d", len(got), err, (n+9)/10)
		}
	}
	b.ReportMetric(targetNs/float64(b.N)/float64(n), "ns/device")
	b.ReportMetric(targetNs/scanNs, "x-bare-sscan")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// heapBytes is the live heap objects' size (runtime/metrics: no
// stop-the-world, unlike ReadMemStats).
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// samplePeak samples heapBytes every millisecond until stop is closed and
// then sends the largest value seen.
func samplePeak() (chan struct{}, chan uint64) {
	stop, out := make(chan struct{}), make(chan uint64, 1)
	go func() {
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, heapBytes())
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return stop, out
}
