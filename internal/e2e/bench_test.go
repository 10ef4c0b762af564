package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/worker"
)

// Benchmarks run only with -bench; a plain `go test ./...` compiles them but
// never executes them. See docs/benchmarks.md for the figures.

// benchClients is how many goroutines issue requests (or enqueue tasks) at
// once in BenchmarkSingleSend.
const benchClients = 32

// BenchmarkSingleSend measures the throughput of the single-recipient
// "send now" path end to end — createMessage over HTTP, the atomic store
// write, the asynq enqueue, the worker's claim, the HTTP call to the
// provider simulator and the mark-sent — against bare asynq no-op tasks
// (enqueue + process) on the same kind of Redis with the worker's asynq
// configuration (worker.NewServer: concurrency 50, same task check
// interval, same queues). Both sides issue b.N operations from 32
// goroutines and stop the clock when the last one is done.
//
// Metrics: sms/s, asynq-noop/s, ratio (sms/s ÷ asynq-noop/s, target ≥ 0.7),
// redis-rtt/sms (round trips the whole fleet sends during the SMS phase ÷
// b.N) and asynq-rtt/task (the same for the baseline). With -v it also logs
// the CPU time per operation and the round trips by kind with their mean
// latency. Run it with:
//
//	go test -run '^$' -bench BenchmarkSingleSend -benchtime 2000x ./internal/fleet/
//	go test -v -run '^$' -bench BenchmarkSingleSend -benchtime 2000x ./internal/fleet/   # with the breakdown
func BenchmarkSingleSend(b *testing.B) {
	cfg := harness.TestConfig(b).Worker
	n := b.N

	// Baseline first, alone on its own redis-server, so the two phases do
	// not compete for the CPUs. At least 1,000 tasks so the rate means
	// something when the framework probes with a small b.N.
	base := benchAsynqNoop(b, cfg, max(n, 1000))

	e := harness.New(b)
	var rt redisx.RoundTrips
	steps := newRTTBreakdown()
	e.RDB.AddHook(&rt)
	e.RDB.AddHook(steps)
	// Verification and drain checks use their own clients so they are not
	// counted as the fleet's round trips.
	check := e.Redis.Client(b)
	checkStore := store.New(check, time.Hour)

	to := harness.Phones(500_000, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	body, err := json.Marshal(map[string]any{"request": map[string]any{
		"application": harness.ShopApp, "auth": harness.ShopToken,
		"notifications": []any{map[string]any{"send_date": "now", "content": "Your code is 4711", "devices": []string{to}}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 2 * benchClients, MaxIdleConnsPerHost: 2 * benchClients},
		Timeout:   30 * time.Second,
	}
	defer hc.CloseIdleConnections()
	url := e.API.URL + "/json/1.3/createMessage"

	// Warm up (connections, asynq's scripts) with one request per client.
	warm := benchCreateMessages(b, hc, url, body, benchClients)
	benchWaitSent(b, e, check, checkStore, warm, len(warm))

	cpu0 := readBenchCPU(b, check)
	rt0, pool0 := rt.Count(), e.RDB.PoolStats()
	steps.reset()
	b.ResetTimer()
	start := time.Now()
	codes := benchCreateMessages(b, hc, url, body, n)
	intake := time.Since(start)
	benchWaitSent(b, e, check, nil, nil, len(warm)+n)
	elapsed := time.Since(start)
	b.StopTimer()
	trips, pool1 := rt.Count()-rt0, e.RDB.PoolStats()
	stepTrips := steps.snapshot()
	cpu := readBenchCPU(b, check).sub(cpu0)
	// Every message must have ended sent (not merely reached the provider).
	benchWaitSent(b, e, check, checkStore, codes, len(warm)+n)

	smsRate := float64(n) / elapsed.Seconds()
	b.ReportMetric(smsRate, "sms/s")
	b.ReportMetric(base.perSec, "asynq-noop/s")
	b.ReportMetric(smsRate/base.perSec, "ratio")
	b.ReportMetric(float64(trips)/float64(n), "redis-rtt/sms")
	b.ReportMetric(base.rttPerTask, "asynq-rtt/task")
	// The details are logged with -v only: without it the framework keeps
	// the first 10 lines of the log, which come from the b.N = 1 probe.
	if !testing.Verbose() {
		return
	}
	b.Logf("N=%d: SMS path %.0f/s (%v; the intake had accepted all after %v), bare asynq %.0f/s (%d tasks), ratio %.2f",
		n, smsRate, elapsed.Round(time.Millisecond), intake.Round(time.Millisecond), base.perSec, base.tasks, smsRate/base.perSec)
	b.Logf("CPU per SMS: %s", cpu.per(n, elapsed))
	b.Logf("CPU per bare asynq task: %s", base.cpu.per(base.tasks, base.elapsed))
	b.Logf("SMS path, go-redis pool (size 64): %d waits for a free connection (%v in all), %d new connections",
		pool1.WaitCount-pool0.WaitCount, time.Duration(pool1.WaitDurationNs-pool0.WaitDurationNs).Round(time.Millisecond), pool1.Misses-pool0.Misses)
	b.Logf("SMS path, Redis round trips per SMS by kind (per SMS, mean latency):\n%s", formatSteps(stepTrips, n))
	b.Logf("bare asynq, Redis round trips per task by kind (per task, mean latency):\n%s", formatSteps(base.steps, base.tasks))
}

// noopResult is what the bare asynq baseline measured.
type noopResult struct {
	tasks      int
	perSec     float64
	rttPerTask float64
	elapsed    time.Duration
	steps      map[string]rttStat
	cpu        benchCPU
}

// benchAsynqNoop enqueues n no-op tasks on the transactional lane from 32
// goroutines and waits until an asynq server configured like the fleet's
// transactional lane has processed them all, on a fresh redis-server.
func benchAsynqNoop(b *testing.B, cfg config.Worker, n int) noopResult {
	b.Helper()
	r, err := testenv.StartRedis()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 64}) // as redisx.New
	defer rdb.Close()
	var rt redisx.RoundTrips
	steps := newRTTBreakdown()
	rdb.AddHook(&rt)
	rdb.AddHook(steps)

	var processed atomic.Int64
	var target atomic.Int64
	allDone := make(chan struct{}, 1)
	// Bare asynq: one server on one queue with the worker's settings, which
	// is exactly what serves the fleet's transactional lane.
	srv := worker.NewServer(rdb, cfg, cfg.Concurrency, map[string]int{string(sms.Transactional): 1}, 5*time.Second, zap.NewNop())
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(context.Context, *asynq.Task) error {
		if processed.Add(1) == target.Load() {
			allDone <- struct{}{}
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()

	// The task looks like an SMS send: its id as payload and task id, a
	// retry limit and a timeout, on the transactional lane.
	run := func(prefix string, count int) time.Duration {
		processed.Store(0)
		target.Store(int64(count))
		var next atomic.Int64
		var failed atomic.Value
		start := time.Now()
		var wg sync.WaitGroup
		for range benchClients {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(count) || failed.Load() != nil {
						return
					}
					id := prefix + strconv.FormatInt(i, 10)
					t := asynq.NewTask("bench:noop", []byte(id), asynq.TaskID(id), asynq.Queue(string(sms.Transactional)),
						asynq.MaxRetry(cfg.MaxAttempts-1), asynq.Timeout(cfg.SendTimeout))
					if _, err := client.Enqueue(t); err != nil {
						failed.CompareAndSwap(nil, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatalf("asynq enqueue: %v", err)
		}
		select {
		case <-allDone:
		case <-time.After(2 * time.Minute):
			b.Fatalf("bare asynq: %d of %d tasks processed after 2 minutes", processed.Load(), count)
		}
		return time.Since(start)
	}
	run("warm-", benchClients)
	cpu0 := readBenchCPU(b, rdb)
	rt0 := rt.Count()
	steps.reset()
	elapsed := run("noop-", n)
	trips, stepTrips := rt.Count()-rt0, steps.snapshot()
	return noopResult{
		tasks: n, perSec: float64(n) / elapsed.Seconds(), elapsed: elapsed,
		rttPerTask: float64(trips) / float64(n), steps: stepTrips,
		cpu: readBenchCPU(b, rdb).sub(cpu0),
	}
}

// benchCPU is CPU time used so far by this process (fleet, benchmark
// clients and provider simulator alike) and by redis-server (INFO cpu).
type benchCPU struct{ process, redis time.Duration }

func readBenchCPU(b *testing.B, rdb *redis.Client) benchCPU {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	c := benchCPU{process: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			c.redis += time.Duration(f * float64(time.Second))
		}
	}
	return c
}

func (c benchCPU) sub(o benchCPU) benchCPU {
	return benchCPU{process: c.process - o.process, redis: c.redis - o.redis}
}

// per formats the CPU time per operation and the cores busy over elapsed.
func (c benchCPU) per(n int, elapsed time.Duration) string {
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return fmt.Sprintf("%.0f µs in the Go process + %.0f µs in redis-server (%.2f + %.2f cores busy)",
		us(c.process), us(c.redis), c.process.Seconds()/elapsed.Seconds(), c.redis.Seconds()/elapsed.Seconds())
}

// benchCreateMessages posts body to url n times from 32 goroutines and
// returns the message codes.
func benchCreateMessages(b *testing.B, hc *http.Client, url string, body []byte, n int) []string {
	codes := make([]string, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || failed.Load() != nil {
					return
				}
				code, err := benchPost(hc, url, body)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				codes[i] = code
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("createMessage: %v", err)
	}
	return codes
}

func benchPost(hc *http.Client, url string, body []byte) (string, error) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var r struct {
		StatusCode int `json:"status_code"`
		Response   struct{ Messages []string }
	}
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != 200 || r.StatusCode != 200 || len(r.Response.Messages) != 1 {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return r.Response.Messages[0], nil
}

// benchWaitSent waits until the simulator has accepted total SMS and the
// transactional lane holds no pending, active or retrying task (so every
// handler has recorded its outcome). With st, it then checks that each of
// codes ended sent. Polling is cheap: a mutex for the simulator, one
// pipeline on check (a client the fleet does not use) for the lane.
func benchWaitSent(b *testing.B, e *harness.Env, check *redis.Client, st *store.Store, codes []string, total int) {
	b.Helper()
	ctx := context.Background()
	// Polled every millisecond: the wait is part of what is measured.
	deadline := time.Now().Add(2 * time.Minute)
	if !harness.Poll(time.Until(deadline), time.Millisecond, func() bool { return e.Sim.Count() >= total }) {
		b.Fatalf("simulator accepted %d of %d SMS after 2 minutes", e.Sim.Count(), total)
	}
	q := "asynq:{" + string(sms.Transactional) + "}:" // asynq's key layout
	var pending, active, retry *redis.IntCmd
	if !harness.Poll(time.Until(deadline), time.Millisecond, func() bool {
		if _, err := check.Pipelined(ctx, func(p redis.Pipeliner) error {
			pending, active, retry = p.LLen(ctx, q+"pending"), p.LLen(ctx, q+"active"), p.ZCard(ctx, q+"retry")
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		return pending.Val()+active.Val()+retry.Val() == 0
	}) {
		b.Fatalf("transactional lane not drained after 2 minutes: %d pending, %d active, %d retry", pending.Val(), active.Val(), retry.Val())
	}
	if st == nil {
		return
	}
	var wg sync.WaitGroup
	var bad atomic.Value
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for code := range work {
				var m store.Message
				var err error
				if !harness.Poll(time.Until(deadline), 5*time.Millisecond, func() bool {
					m, err = st.GetMessage(ctx, harness.ShopApp, code)
					return err == nil && m.Counts[sms.Sent] == 1 && m.Recipients == 1
				}) {
					bad.CompareAndSwap(nil, fmt.Sprintf("message %s: %v, counts %v", code, err, m.Counts))
				}
			}
		})
	}
	for _, c := range codes {
		work <- c
	}
	close(work)
	wg.Wait()
	if v := bad.Load(); v != nil {
		b.Fatalf("not sent: %s", v)
	}
}

// BenchmarkScheduledMemory measures what a scheduled message costs in Redis
// per recipient until it is due: 100,000 registered devices, one
// createMessage naming all of them with a send_date three hours ahead, and
// INFO used_memory before and after (each read once Redis has settled, so
// the client query buffers of the big request are not counted). Target:
// ≤ 64 bytes/recipient. key-bytes/recipient cross-checks it with MEMORY
// USAGE of the message's own keys; create-ms is the createMessage latency.
//
// The measurement is made once, whatever b.N is, and ns/op is suppressed.
// The framework calls a benchmark first with b.N = 1 and then, under
// -benchtime Nx, again with b.N = N on the same *testing.B: that second call
// reports the first call's figures instead of measuring again. Each -count
// is a fresh measurement. Run it with:
//
//	go test -run '^$' -bench BenchmarkScheduledMemory -benchtime 1x ./internal/fleet/
func BenchmarkScheduledMemory(b *testing.B) {
	v, ok := scheduledMemoryRuns.Load(b)
	if !ok {
		v = measureScheduledMemory(b)
		scheduledMemoryRuns.Store(b, v)
	}
	r := v.(scheduledMemoryResult)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.bytesPerRecipient, "bytes/recipient")
	b.ReportMetric(r.keyBytesPerRecipient, "key-bytes/recipient")
	b.ReportMetric(float64(r.create.Milliseconds()), "create-ms")
}

// scheduledMemoryRuns holds each *testing.B's one measurement.
var scheduledMemoryRuns sync.Map

type scheduledMemoryResult struct {
	bytesPerRecipient, keyBytesPerRecipient float64
	create                                  time.Duration
}

func measureScheduledMemory(b *testing.B) scheduledMemoryResult {
	const recipients = 100_000
	ctx := context.Background()
	e := harness.New(b)
	list := harness.Phones(0, recipients)
	if err := e.Fleet.Store().RegisterDevices(ctx, harness.ShopApp, list); err != nil {
		b.Fatal(err)
	}
	// Look every phone up once, as createMessage will: registering 100,000
	// devices leaves the devices set halfway through an incremental rehash,
	// and the lookups finish it, freeing the old table (~0.5 MB) — which
	// would otherwise be subtracted from the message's cost.
	if _, err := e.Fleet.Store().KnownPhones(ctx, harness.ShopApp, list); err != nil {
		b.Fatal(err)
	}
	before := benchSettledMemory(b, e.Redis)

	sendAt := time.Now().UTC().Add(3 * time.Hour).Format("2006-01-02 15:04")
	start := time.Now()
	code := e.Send(map[string]any{"send_date": sendAt, "content": "Our summer sale starts tomorrow!", "devices": list})
	created := time.Since(start)

	after := benchSettledMemory(b, e.Redis)

	m, err := e.Fleet.Store().GetMessage(ctx, harness.ShopApp, code)
	if err != nil {
		b.Fatal(err)
	}
	if m.Recipients != recipients || m.Counts[sms.Scheduled] != recipients || m.Direct || m.Groups[0].Fanout != "" {
		b.Fatalf("message %s: %d recipients, counts %v, direct %v, fan-out %q", code, m.Recipients, m.Counts, m.Direct, m.Groups[0].Fanout)
	}
	keyBytes := benchMemoryUsage(b, e.RDB, append([]string{"sf:m:" + code}, benchChunkKeys(code, m.Chunks(0))...))
	b.Logf("used_memory %d -> %d (+%d bytes) for %d recipients in %d chunks; message keys %d bytes; createMessage took %v",
		before, after, after-before, recipients, m.Chunks(0), keyBytes, created.Round(time.Millisecond))
	return scheduledMemoryResult{
		bytesPerRecipient:    float64(after-before) / recipients,
		keyBytesPerRecipient: float64(keyBytes) / recipients,
		create:               created,
	}
}

// benchSettledMemory reads used_memory once it has stopped moving: Redis
// shrinks a client's query buffer (a 1.7 MB request leaves one behind) in
// its client cron within a couple of seconds.
func benchSettledMemory(b *testing.B, r *testenv.Redis) int64 {
	b.Helper()
	ctx := context.Background()
	prev, err := r.UsedMemory(ctx)
	if err != nil {
		b.Fatal(err)
	}
	stable := 0
	for range 40 { // at most 10 s
		time.Sleep(250 * time.Millisecond)
		cur, err := r.UsedMemory(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if d := cur - prev; d > -4096 && d < 4096 {
			stable++
		} else {
			stable = 0
		}
		prev = cur
		if stable >= 8 { // 2 s without a move of 4 KiB
			break
		}
	}
	return prev
}

// benchChunkKeys names a message's recipient chunks (store's key layout).
func benchChunkKeys(code string, chunks int) []string {
	keys := make([]string, chunks)
	for i := range keys {
		keys[i] = "sf:mr:" + code + ":" + strconv.Itoa(i)
	}
	return keys
}

func benchMemoryUsage(b *testing.B, rdb *redis.Client, keys []string) int64 {
	b.Helper()
	ctx := context.Background()
	cmds := make([]*redis.IntCmd, len(keys))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.MemoryUsage(ctx, k, 0)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var sum int64
	for _, c := range cmds {
		sum += c.Val()
	}
	return sum
}

// rttBreakdown is a go-redis hook that counts round trips by what they do:
// a script by its first key (and argument count, which tells the store's
// scripts on one SMS record apart), a command by its name and key, a
// pipeline by the set of what it holds. Keys are reduced to their prefix.
// It also sums each kind's latency as the caller sees it (connection
// checkout, write, Redis, read), which shows where a busy process waits.
type rttBreakdown struct {
	mu sync.Mutex
	n  map[string]rttStat
}

type rttStat struct {
	count int64
	total time.Duration
}

func newRTTBreakdown() *rttBreakdown { return &rttBreakdown{n: map[string]rttStat{}} }

func (h *rttBreakdown) add(label string, d time.Duration) {
	h.mu.Lock()
	s := h.n[label]
	s.count++
	s.total += d
	h.n[label] = s
	h.mu.Unlock()
}

func (h *rttBreakdown) reset() {
	h.mu.Lock()
	h.n = map[string]rttStat{}
	h.mu.Unlock()
}

func (h *rttBreakdown) snapshot() map[string]rttStat {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]rttStat, len(h.n))
	for k, v := range h.n {
		out[k] = v
	}
	return out
}

func (h *rttBreakdown) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *rttBreakdown) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.add(cmdLabel(cmd), time.Since(start))
		return err
	}
}

func (h *rttBreakdown) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		seen := map[string]bool{}
		var parts []string
		for _, c := range cmds {
			if l := cmdLabel(c); !seen[l] {
				seen[l] = true
				parts = append(parts, l)
			}
		}
		sort.Strings(parts)
		start := time.Now()
		err := next(ctx, cmds)
		h.add("pipeline["+strings.Join(parts, "; ")+"]", time.Since(start))
		return err
	}
}

func cmdLabel(cmd redis.Cmder) string {
	args := cmd.Args()
	name := cmd.Name()
	switch name {
	case "evalsha", "eval", "evalsha_ro", "eval_ro":
		if len(args) < 4 {
			return name
		}
		nkeys, _ := strconv.Atoi(fmt.Sprint(args[2]))
		return fmt.Sprintf("script %s (keys %d, argv %d)", keyClass(fmt.Sprint(args[3])), nkeys, len(args)-3-nkeys)
	}
	if len(args) > 1 {
		if k, ok := args[1].(string); ok {
			return name + " " + keyClass(k)
		}
	}
	return name
}

// keyClass reduces a key to its kind: asynq keys keep their queue but lose
// task and server ids, smsfleet keys keep their prefix.
func keyClass(k string) string {
	switch {
	case strings.HasPrefix(k, "asynq:{"):
		if i := strings.Index(k, "}:t:"); i > 0 {
			return k[:i] + "}:t:*"
		}
		if i := strings.Index(k, "}:processed:"); i > 0 {
			return k[:i] + "}:processed:*"
		}
		if i := strings.Index(k, "}:failed:"); i > 0 {
			return k[:i] + "}:failed:*"
		}
		return k
	case strings.HasPrefix(k, "asynq:"):
		if i := strings.IndexByte(k, '{'); i > 0 {
			return k[:i] + "*"
		}
		return k
	case strings.HasPrefix(k, "sf:"):
		if i := strings.IndexByte(k[3:], ':'); i >= 0 {
			return k[:3+i+1] + "*"
		}
	}
	return k
}

// formatSteps lists round trips per operation by kind, most frequent first,
// with their mean latency.
func formatSteps(steps map[string]rttStat, n int) string {
	type row struct {
		label string
		rttStat
	}
	rows := make([]row, 0, len(steps))
	var total int64
	for k, v := range steps {
		rows = append(rows, row{k, v})
		total += v.count
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].count > rows[j].count || rows[i].count == rows[j].count && rows[i].label < rows[j].label
	})
	var sb strings.Builder
	for _, r := range rows {
		if float64(r.count)/float64(n) < 0.01 {
			continue // background work (forwarder, heartbeat, new connections)
		}
		fmt.Fprintf(&sb, "\t%6.3f  %6.0f µs  %s\n", float64(r.count)/float64(n), float64(r.total.Microseconds())/float64(r.count), r.label)
	}
	fmt.Fprintf(&sb, "\t%6.3f  total (including background work under 0.01 not listed)", float64(total)/float64(n))
	return sb.String()
}
