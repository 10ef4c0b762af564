package worker

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

const orphanHelperEnv = "SMSFLEET_ORPHAN_HELPER_REDIS"

// TestOrphanHelperDyingWorker is not a test: run by
// TestOrphanedSendIsReRunWhenItsLeaseExpires as a child process, it is a
// worker that takes the task and hangs until it is killed.
func TestOrphanHelperDyingWorker(t *testing.T) {
	addr := os.Getenv(orphanHelperEnv)
	if addr == "" {
		t.Skip("helper process only")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1, Queues: map[string]int{"otp": 1}, TaskCheckInterval: 50 * time.Millisecond,
		LogLevel: asynq.FatalLevel,
	})
	_ = srv.Run(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		rdb.Set(context.Background(), "helper:started", strconv.Itoa(os.Getpid()), 0)
		select {} // hangs, holding the lease, until SIGKILL
	}))
}

// A worker process killed (SIGKILL, no drain) while it holds an OTP send
// leaves the task active with a lease its heartbeater no longer extends.
// asynq's recoverer alone re-runs it only once the lease is 30 s past
// (recoverer.go: cutoff now−30 s, every minute); the OrphanRecoverer
// re-runs it once the lease has expired. Counted, with the lease's own
// timestamp as the reference: exactly one re-run, never before the lease
// expired (the safety property), and before asynq's recoverer could have
// taken it (lease + 30 s). Without the component the second server does
// not run the task within that window: its own recoverer ran at start,
// before the lease expired, and runs next a minute later.
func TestOrphanedSendIsReRunWhenItsLeaseExpires(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a real 30 s asynq lease to expire")
	}
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	cli := asynq.NewClientFromRedisClient(rdb)
	if _, err := cli.Enqueue(asynq.NewTask("sms:send", []byte("x")), asynq.Queue("otp"), asynq.TaskID("sms1"), asynq.MaxRetry(5)); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^TestOrphanHelperDyingWorker$")
	child.Env = append(os.Environ(), orphanHelperEnv+"="+r.Addr)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _, _ = child.Process.Wait() })
	waitUntil(t, 20*time.Second, func() bool { return rdb.Exists(ctx, "helper:started").Val() == 1 })
	if err := child.Process.Kill(); err != nil { // kill -9: no requeue, no state cleared
		t.Fatal(err)
	}
	_, _ = child.Process.Wait()
	lease, err := rdb.ZScore(ctx, leaseKey("otp"), "sms1").Result()
	if err != nil {
		t.Fatalf("the killed worker left no lease: %v", err)
	}

	var mu sync.Mutex
	var runs []int // retry count seen by each run
	var ranAt []int64
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1, Queues: map[string]int{"otp": 1},
		TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 250 * time.Millisecond,
		RetryDelayFunc: retryDelay(Backoff(time.Second, time.Minute)), IsFailure: isFailure,
		LogLevel: asynq.FatalLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		n, _ := asynq.GetRetryCount(ctx)
		mu.Lock()
		runs = append(runs, n)
		ranAt = append(ranAt, time.Now().Unix())
		mu.Unlock()
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	var recovered []int64 // clock second of each recovery
	orc := NewOrphanRecoverer(rdb, []string{"otp", "transactional"}, time.Second, time.Minute, nil, nil)
	orc.Interval = 200 * time.Millisecond
	orc.Recovered = func(q, id string, l int64, archived bool) {
		mu.Lock()
		recovered = append(recovered, time.Now().Unix())
		mu.Unlock()
		if q != "otp" || id != "sms1" || archived || float64(l) != lease {
			t.Errorf("recovered %s %s lease %d archived %v, want otp sms1 lease %v retried", q, id, l, archived, lease)
		}
	}
	octx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = orc.Run(octx) }()
	t.Cleanup(func() { stop(); <-done })

	asynqCutoff := int64(lease) + 30 // the earliest asynq's own recoverer could list it
	waitUntil(t, time.Until(time.Unix(asynqCutoff, 0))+10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(runs) > 0
	})
	time.Sleep(time.Second) // a second re-run, if there were one, would show now
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != 1 || len(recovered) != 1 {
		t.Fatalf("task ran %d times after the crash, recovered %d times; want once each", len(runs), len(recovered))
	}
	if runs[0] != 1 {
		t.Errorf("the re-run saw retry count %d, want 1: the crash counts as an attempt, as in asynq's recoverer", runs[0])
	}
	if recovered[0] <= int64(lease) {
		t.Errorf("recovered at %d, while the lease (%d) was still valid", recovered[0], int64(lease))
	}
	if ranAt[0] >= asynqCutoff {
		t.Errorf("re-ran at %d, not before asynq's own recoverer could (lease %d + 30 s)", ranAt[0], int64(lease))
	}
	t.Logf("lease expired at %d; recovered at %d (+%ds), re-ran at %d (+%ds); asynq alone: at the earliest %d, at the latest %d",
		int64(lease), recovered[0], recovered[0]-int64(lease), ranAt[0], ranAt[0]-int64(lease), asynqCutoff, asynqCutoff+60)
}

// A lease left expired on a task whose retries are used up is archived
// with asynq's ErrLeaseExpired, and the message asynq reads back keeps its
// fields (our re-encoding of asynq's protobuf message is what asynq
// decodes). A lease still valid is not touched.
func TestOrphanRecovererArchivesExhaustedAndSparesValidLeases(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	cli := asynq.NewClientFromRedisClient(rdb)
	now := time.Now()
	for _, tc := range []struct {
		id    string
		retry int
		lease time.Time
	}{
		{"dead-exhausted", 0, now.Add(-10 * time.Second)},
		{"dead-retry", 3, now.Add(-10 * time.Second)},
		{"alive", 3, now.Add(20 * time.Second)},
	} {
		if _, err := cli.Enqueue(asynq.NewTask("sms:send", []byte("p-"+tc.id)), asynq.Queue("transactional"), asynq.TaskID(tc.id), asynq.MaxRetry(tc.retry)); err != nil {
			t.Fatal(err)
		}
		// asynq's dequeueCmd, as a worker that then died would have run it.
		if err := rdb.Eval(ctx, `local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[2])
redis.call("HSET", KEYS[4] .. id, "state", "active")
redis.call("HDEL", KEYS[4] .. id, "pending_since")
redis.call("ZADD", KEYS[3], ARGV[1], id)
return 1`, []string{queueKey("transactional", "pending"), queueKey("transactional", "active"), leaseKey("transactional"), queueKey("transactional", "t:")}, tc.lease.Unix()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	orc := NewOrphanRecoverer(rdb, []string{"transactional"}, time.Second, time.Minute, func() time.Time { return now }, nil)
	n, err := orc.Recover(ctx)
	if err != nil || n != 2 {
		t.Fatalf("recovered %d, %v; want the 2 expired", n, err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	want := map[string]struct {
		state   asynq.TaskState
		retried int
	}{"dead-exhausted": {asynq.TaskStateArchived, 0}, "dead-retry": {asynq.TaskStateRetry, 1}, "alive": {asynq.TaskStateActive, 0}}
	for id, w := range want {
		info, err := insp.GetTaskInfo("transactional", id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != w.state || info.Retried != w.retried || string(info.Payload) != "p-"+id || info.Type != "sms:send" {
			t.Errorf("%s: state %v retried %d payload %q type %q; want %v, %d, p-%s, sms:send", id, info.State, info.Retried, info.Payload, info.Type, w.state, w.retried, id)
		}
		if id != "alive" && (info.LastErr != asynq.ErrLeaseExpired.Error() || info.LastFailedAt.Unix() != now.Unix()) {
			t.Errorf("%s: last error %q at %v, want %q at %v", id, info.LastErr, info.LastFailedAt, asynq.ErrLeaseExpired, now)
		}
	}
	if n, _ := orc.Recover(ctx); n != 0 {
		t.Errorf("a second scan moved %d more", n)
	}
}

func waitUntil(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
