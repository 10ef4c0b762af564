package testenv

import (
	"context"
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
	if n, err := c.Do(ctx, "wait", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1: %d replicas, %v", n, err)
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
