package testenv

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSentinelFailover: the set-up fails over by itself when its primary
// is killed, and a go-redis failover client (what SMSFLEET_REDIS_MODE=sentinel
// builds) follows it: a key written before the kill and replicated is
// read back from the new primary, and writes go on.
func TestSentinelFailover(t *testing.T) {
	s := NewSentinel(t, SentinelOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs, MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	old, next, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old == next {
		t.Fatalf("primary still %s", old)
	}
	t.Logf("primary %s killed, %s promoted", old, next)
	// The client's first commands may still meet the dead primary's pool:
	// poll until the failover client reaches the new one.
	var got string
	for {
		got, err = c.Get(ctx, "before").Result()
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || got != "1" {
		t.Fatalf("replicated key after failover: %q, %v", got, err)
	}
	if err := c.Set(ctx, "after", "2", 0).Err(); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	direct := redis.NewClient(&redis.Options{Addr: next})
	defer direct.Close()
	if v, err := direct.Get(ctx, "after").Result(); err != nil || v != "2" {
		t.Fatalf("the write did not land on the new primary %s: %q, %v", next, v, err)
	}
}

// stopTB records whether NewSentinel skipped or failed; both end the
// goroutine, as the testing package's do.
type stopTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (s *stopTB) Helper() {}
func (s *stopTB) Skip(args ...any) {
	s.skipped, s.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (s *stopTB) Fatal(args ...any) {
	s.failed, s.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// TestNewSentinelWithoutRedis: with no redis-server on PATH the set-up
// fails under CI=true (a test CI must run is never skipped there) and is
// skipped elsewhere, naming the package to install.
func TestNewSentinelWithoutRedis(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		ci                     string
		wantSkipped, wantFatal bool
	}{{"true", false, true}, {"", true, false}} {
		t.Setenv("CI", tc.ci)
		rec := &stopTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			NewSentinel(rec, SentinelOptions{})
		}()
		<-done
		if rec.skipped != tc.wantSkipped || rec.failed != tc.wantFatal || !strings.Contains(rec.msg, "apt-get install -y redis-server") {
			t.Errorf("CI=%q: skipped %v, failed %v (%q); want skipped %v, failed %v, naming the package", tc.ci, rec.skipped, rec.failed, rec.msg, tc.wantSkipped, tc.wantFatal)
		}
	}
}
