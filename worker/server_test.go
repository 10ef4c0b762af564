package worker

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func TestBackoffGrowsWithJitterAndCaps(t *testing.T) {
	f := Backoff(100*time.Millisecond, 2*time.Second)
	for n := range 40 {
		full := min(100*time.Millisecond<<min(n, 30), 2*time.Second)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := f(n, nil, nil)
			if d < full/2 || d > full {
				t.Fatalf("retry %d waited %s, want between %s and %s", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("retry %d: no jitter, always %v", n, seen)
		}
	}
}

// TestOTPLanePollsOnItsOwnInterval: the OTP lane's server polls its queue
// every OTPCheckInterval while the other lanes keep TaskCheckInterval. The
// servers run against a real redis-server whose MONITOR feed counts each
// lane's dequeues; by the OTP lane's fifth poll of its empty queue, the
// transactional lane (1 s interval) has polled at most twice. With one
// interval for all lanes they poll alike and this fails. With sharded
// lanes a poll is one dequeue per shard, and the OTP lane's shards keep
// the OTP interval.
func TestOTPLanePollsOnItsOwnInterval(t *testing.T) {
	for _, shards := range []sms.Shards{1, 3} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) { testOTPLanePolls(t, shards) })
	}
}

func testOTPLanePolls(t *testing.T, shards sms.Shards) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	conn, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(conn)
	if !sc.Scan() || sc.Text() != "+OK" {
		t.Fatalf("MONITOR answered %q", sc.Text())
	}

	cfg := config.Default().Worker
	cfg.TaskCheckInterval, cfg.OTPCheckInterval = time.Second, time.Millisecond
	for _, srv := range NewServers(rdb, cfg, ShardedLanes(shards), time.Second, zap.NewNop()) {
		if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}

	// A dequeue names its queue's pending list and paused key; the
	// forwarder's scripts name no paused key.
	polls := map[string]int{} // lane -> dequeues over its shards
	lines, done := make(chan string), make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	n := shards.Count()
	deadline := time.After(20 * time.Second) // a guard against a hang, not a measurement
	for polls[string(sms.OTP)] < 5*n {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("MONITOR feed ended")
			}
			for _, lane := range []string{string(sms.OTP), string(sms.Transactional)} {
				for _, q := range shards.Queues(lane) {
					if strings.Contains(l, `"asynq:{`+q+`}:pending"`) && strings.Contains(l, `"asynq:{`+q+`}:paused"`) {
						polls[lane]++
					}
				}
			}
		case <-deadline:
			t.Fatalf("the OTP lane dequeued %d times, want %d (5 polls of %d shards)", polls[string(sms.OTP)], 5*n, n)
		}
	}
	if got := polls[string(sms.Transactional)]; got > 2*n {
		t.Errorf("by the OTP lane's fifth poll the transactional lane dequeued %d times (%d shards): both run on one interval", got, n)
	}
}
