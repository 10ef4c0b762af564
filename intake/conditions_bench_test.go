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

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// BenchmarkConditionsOverDevices measures conditions targeting over a
// large application (SMSFLEET_BENCH_DEVICES, default 1,000,000 devices,
// one in ten tagged City=London) on the path a message takes: the
// createMessage request, which only validates and stores the conditions,
// and the message's dispatch (dispatcher.Fanout with the fleet's
// parallelism and batch size), which walks the devices, commits the
// matches chunk by chunk and creates their records and send tasks. A
// second message whose conditions match nobody isolates the walk itself.
// Each is compared with a bare SSCAN of the same set in the same run, and
// the dispatch's peak growth of the live heap is sampled. Run by hand:
//
//	go test -run '^$' -bench BenchmarkConditionsOverDevices -benchtime 2x -timeout 30m ./intake/
func BenchmarkConditionsOverDevices(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SMSFLEET_BENCH_DEVICES")); err == nil && v > 0 {
		n = v
	}
	r := testenv.NewRedis(b)
	rdb := r.Client(b)
	st := store.New(rdb, 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	a := newAPIWith(st)
	a.Now = time.Now
	a.ChunkSize = 1000 // the fleet's SMSFLEET_DISPATCH_CHUNK default
	a.Enqueuer = dispatcher.NewEnqueuer(st, asynq.NewClientFromRedisClient(rdb), 3, time.Minute, time.Now)
	f := &dispatcher.Fanout{Store: st, Enqueuer: a.Enqueuer, Log: zap.NewNop(), Parallel: 16, Batch: 64}
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
	// send creates a message with conds and dispatches it: the request's
	// and the dispatch's time, the dispatch's peak heap growth, and its
	// recipients.
	send := func(conds string) (request, dispatch time.Duration, peak uint64, recipients int) {
		start := time.Now()
		resp, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[{"send_date":"now","content":"hi","conditions":`+conds+`}]}`))
		request = time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		code := resp.(createResponse).Messages[0]
		runtime.GC()
		base := heapBytes()
		stop, peakc := samplePeak()
		start = time.Now()
		err = f.ProcessTask(ctx, tasks.Dispatch(code, 0, 1, 0))
		dispatch = time.Since(start)
		close(stop)
		if p := <-peakc; p > base {
			peak = p - base
		}
		if err != nil {
			b.Fatal(err)
		}
		m, err := st.GetMessage(ctx, shop, code)
		if err != nil {
			b.Fatal(err)
		}
		return request, dispatch, peak, m.Recipients
	}
	var scanNs, requestNs, dispatchNs, walkNs float64
	var peak uint64
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		var cursor uint64
		for {
			_, next, err := rdb.SScan(ctx, "sf:ds:"+shop, cursor, "", store.ScanBatch).Result()
			if err != nil {
				b.Fatal(err)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		scanNs += float64(time.Since(start).Nanoseconds())

		req, disp, p, got := send(`[["City","EQ","London"]]`)
		if got != (n+9)/10 {
			b.Fatalf("dispatched to %d, want %d", got, (n+9)/10)
		}
		requestNs += float64(req.Nanoseconds())
		dispatchNs += float64(disp.Nanoseconds())
		peak = max(peak, p)
		_, walk, p, got := send(`[["City","EQ","Nowhere"]]`)
		if got != 0 {
			b.Fatalf("the walk-only message reached %d", got)
		}
		walkNs += float64(walk.Nanoseconds())
		peak = max(peak, p)
	}
	N := float64(b.N)
	b.ReportMetric(requestNs/N/1e6, "request-ms")
	b.ReportMetric(dispatchNs/N/float64(n), "dispatch-ns/device")
	b.ReportMetric(dispatchNs/scanNs, "dispatch-x-bare-sscan")
	b.ReportMetric(walkNs/N/float64(n), "walk-ns/device")
	b.ReportMetric(walkNs/scanNs, "walk-x-bare-sscan")
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
