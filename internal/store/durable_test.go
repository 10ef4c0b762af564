package store

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
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
		if n, err := replica.Exists(ctx, msgKey(code), smsKey(sms.SMSID(code, "+4915112000030"))).Result(); err != nil || n != 2 {
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
