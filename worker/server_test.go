package worker

import (
	"bufio"
	"context"
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
// interval for all lanes they poll alike and this fails.
func TestOTPLanePollsOnItsOwnInterval(t *testing.T) {
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
	for _, srv := range NewServers(rdb, cfg, ShardedLanes(1), time.Second, zap.NewNop()) {
		if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}

	// A dequeue names its lane's pending list and paused key; the
	// forwarder's scripts name no paused key.
	polls := map[string]int{}
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
	deadline := time.After(20 * time.Second) // a guard against a hang, not a measurement
	for polls[string(sms.OTP)] < 5 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("MONITOR feed ended")
			}
			for _, lane := range []string{string(sms.OTP), string(sms.Transactional)} {
				if strings.Contains(l, `"asynq:{`+lane+`}:pending"`) && strings.Contains(l, `"asynq:{`+lane+`}:paused"`) {
					polls[lane]++
				}
			}
		case <-deadline:
			t.Fatalf("the OTP lane polled %d times, want 5", polls[string(sms.OTP)])
		}
	}
	if n := polls[string(sms.Transactional)]; n > 2 {
		t.Errorf("by the OTP lane's fifth poll the transactional lane polled %d times: both run on one interval", n)
	}
}
