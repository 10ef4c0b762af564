package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// startReplica starts a redis-server replicating primary and waits until
// the primary counts it. stop kills it.
func startReplica(t *testing.T, primary *testenv.Redis) (rdb *redis.Client, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host, pport, _ := net.SplitHostPort(primary.Addr)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--replicaof", host, pport, "--dir", t.TempDir(), "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start replica: %v", err)
	}
	stop = func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	rdb = redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	t.Cleanup(func() { _ = rdb.Close() })
	prim := primary.Client(t)
	for i := 0; ; i++ {
		info, _ := prim.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			return rdb, stop
		}
		if i > 500 {
			t.Fatalf("the replica never came online: %s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAcceptedWritesHaveReachedTheReplica (issue 12, item 4): with
// WithReplicas(1, …) an accepted message and a registered device are on
// the replica when the call returns (read there at once, no polling);
// with the replica gone the same calls fail with NotReplicatedError,
// saying how many acknowledged.
func TestAcceptedWritesHaveReachedTheReplica(t *testing.T) {
	r := testenv.NewRedis(t)
	replica, stopReplica := startReplica(t, r)
	st := New(r.Client(t), 24*time.Hour, WithReplicas(1, 2*time.Second))
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(code, txn string) (string, bool, error) {
		m := &Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: st.now(), Validity: time.Hour,
			ChunkSize: 100, Direct: true, TransactionID: txn}
		return st.CreateMessage(ctx, m, []Audience{{Phones: []string{"+4915112000030"}, SendAt: st.now()}})
	}
	for i := range 20 {
		code := "DURA-00000000-" + strconv.Itoa(10000000+i)
		if _, _, err := write(code, ""); err != nil {
			t.Fatal(err)
		}
		if n, err := replica.Exists(ctx, msgKey(code), smsKey(MustSMSID(t, st, code, "+4915112000030"))).Result(); err != nil || n != 2 {
			t.Fatalf("accepted message %s: %d of its 2 keys on the replica (%v)", code, n, err)
		}
	}
	if _, err := st.RegisterDevice(ctx, "SHOP1-00001", Device{Phone: "+4915112000031"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := replica.Exists(ctx, deviceKey("SHOP1-00001", "+4915112000031")).Result(); n != 1 {
		t.Fatal("a registered device is not on the replica")
	}

	stopReplica()
	st.waitTimeout = 100 * time.Millisecond
	code, created, err := write("DURA-00000000-20000000", "t-gone")
	var nr *NotReplicatedError
	if !errors.As(err, &nr) || !errors.Is(err, ErrNotReplicated) || nr.Got != 0 || nr.Want != 1 || !created || code != "DURA-00000000-20000000" {
		t.Fatalf("write with the replica gone: %s %v %v, want NotReplicatedError 0 of 1", code, created, err)
	}
	// The client's retry with its transactionId finds the write, writes no
	// second message and is still not durable.
	code, created, err = write("DURA-00000000-20000001", "t-gone")
	if !errors.As(err, &nr) || created || code != "DURA-00000000-20000000" {
		t.Fatalf("retry with the replica gone: %s %v %v", code, created, err)
	}
	if _, err := st.RegisterDevice(ctx, "SHOP1-00001", Device{Phone: "+4915112000032"}); !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("register device with the replica gone: %v", err)
	}
}

// TestMeasureDurabilityCost prints createMessage throughput (direct sends,
// 32 concurrent writers) for each appendfsync × WAIT mode against a real
// primary with one replica on this machine, as ratios of the no-WAIT,
// no-AOF baseline measured in the same run (docs/operations.md,
// "Durability"). Run by hand:
//
//	SMSFLEET_MEASURE=20000 go test ./internal/store/ -run TestMeasureDurabilityCost -v
func TestMeasureDurabilityCost(t *testing.T) {
	if os.Getenv("SMSFLEET_MEASURE") == "" {
		t.Skip("set SMSFLEET_MEASURE=<writes per mode> to measure")
	}
	var n int
	fmt.Sscan(os.Getenv("SMSFLEET_MEASURE"), &n)
	r := testenv.NewRedis(t)
	startReplica(t, r)
	rdb := r.Client(t)
	ctx := context.Background()
	run := func(label, fsync string, replicas int) float64 {
		if fsync == "off" {
			rdb.ConfigSet(ctx, "appendonly", "no")
		} else {
			rdb.ConfigSet(ctx, "appendonly", "yes")
			rdb.ConfigSet(ctx, "appendfsync", fsync)
		}
		for { // wait for the AOF rewrite the switch starts
			info, _ := rdb.Info(ctx, "persistence").Result()
			if strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		st := New(rdb, time.Hour, WithReplicas(replicas, time.Second))
		if err := st.LoadScripts(ctx); err != nil {
			t.Fatal(err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(n) {
						return
					}
					code := fmt.Sprintf("%s-%08d-00000000", label, i)
					m := &Message{App: "BENCH-00001", Code: code, Type: sms.Transactional, Content: `"Your code is 123456"`, SendAt: st.now(),
						Validity: time.Hour, Direct: true, ChunkSize: 1000, TransactionID: code}
					if _, _, err := st.CreateMessage(ctx, m, []Audience{{SendAt: st.now(), Phones: []string{"+4915112000001"}}}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	type mode struct {
		label, fsync string
		replicas     int
	}
	modes := []mode{{"BASE", "off", 0}, {"EVRY", "everysec", 0}, {"ALWS", "always", 0}, {"OFFW", "off", 1}, {"EVRW", "everysec", 1}, {"ALWW", "always", 1}}
	var base float64
	for _, m := range modes {
		rate := run(m.label, m.fsync, m.replicas)
		if m.label == "BASE" {
			base = rate
		}
		t.Logf("appendfsync %-8s WAIT %d: %7.0f createMessage/s  (%.2f of the baseline)", m.fsync, m.replicas, rate, rate/base)
	}
}

// TestFinalWritesReachTheReplica: with replicas required, a worker's final
// writes (sent, failed) return only once a replica has them, so a failover
// cannot keep a task's completion and lose its SMS's state (an SMS was
// left sending with no task in about one Sentinel failover run in 25);
// without the replica the write happened on the primary and its error
// says it was not replicated, so the worker records it again.
func TestFinalWritesReachTheReplica(t *testing.T) {
	r := testenv.NewRedis(t)
	replica, stopReplica := startReplica(t, r)
	st := New(r.Client(t), 24*time.Hour, WithReplicas(1, 2*time.Second))
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	begun := func(code, phone string) string {
		t.Helper()
		m := &Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: st.now(), Validity: time.Hour, ChunkSize: 100, Direct: true}
		if _, _, err := st.CreateMessage(ctx, m, []Audience{{Phones: []string{phone}, SendAt: st.now()}}); err != nil {
			t.Fatal(err)
		}
		id := MustSMSID(t, st, code, phone)
		l, ok, err := st.LoadSMS(ctx, id)
		if err != nil || !ok {
			t.Fatalf("load: %v %v", ok, err)
		}
		if _, _, ok, err := st.Begin(ctx, id, l); err != nil || !ok {
			t.Fatalf("begin: %v %v", ok, err)
		}
		return id
	}
	statusOn := func(c *redis.Client, id string) string { return c.HGet(ctx, st.k.sms(id), fStatus).Val() }
	sent := begun("DURF-00000000-00000001", "+4915112000041")
	gone := begun("DURF-00000000-00000003", "+4915112000043")
	if _, err := st.MarkSent(ctx, sent, Outcome{Provider: "smsc", ProviderRef: "F1", Segments: 1}); err != nil {
		t.Fatal(err)
	}
	failed := begun("DURF-00000000-00000002", "+4915112000042")
	if _, err := st.MarkFailed(ctx, failed, Outcome{Error: "rejected"}); err != nil {
		t.Fatal(err)
	}
	if a, b := statusOn(replica, sent), statusOn(replica, failed); a != "sent" || b != "failed" {
		t.Fatalf("on the replica as the calls returned: %s and %s, want sent and failed", a, b)
	}

	stopReplica()
	st.waitTimeout = 100 * time.Millisecond
	_, err := st.MarkSent(ctx, gone, Outcome{Provider: "smsc", ProviderRef: "F3", Segments: 1})
	if !errors.Is(err, ErrNotReplicated) || statusOn(r.Client(t), gone) != "sent" {
		t.Fatalf("sent with the replica gone: %v, status %s on the primary; want ErrNotReplicated after the move", err, statusOn(r.Client(t), gone))
	}
}
