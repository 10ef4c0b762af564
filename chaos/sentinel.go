package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// startSentinelRedis starts the fleet's Redis as a primary, two replicas
// (so that SMSFLEET_REDIS_WAIT_REPLICAS=1 can still be met once one node
// is gone) and three sentinels (down-after 1 s), and returns the roles'
// SMSFLEET_REDIS_* for SMSFLEET_REDIS_MODE=sentinel. f.redis stands for
// the current primary (its address only: the suite reads the delivery
// state there; testenv owns the processes).
func startSentinelRedis(f *fleet) ([]string, error) {
	s, err := testenv.StartSentinel(testenv.SentinelOptions{Replicas: 2})
	if err != nil {
		return nil, err
	}
	f.sentinel = s
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	primary, err := s.Primary(ctx)
	if err != nil {
		return nil, err
	}
	f.redis = &redisProc{addr: primary}
	return []string{
		"SMSFLEET_REDIS_MODE=sentinel",
		"SMSFLEET_REDIS_ADDRS=" + strings.Join(s.Addrs, ","),
		"SMSFLEET_REDIS_MASTER_NAME=" + s.MasterName,
	}, nil
}

// sentinelFailover kills the primary with SIGKILL a third into the sends
// and waits for the sentinels to promote a replica. Nothing is restarted
// or reconfigured: the roles' failover clients follow by themselves.
func sentinelFailover(ctx context.Context, f *fleet, sending time.Duration) {
	sleep(ctx, sending/3)
	start := time.Now()
	old, next, err := f.sentinel.Failover(ctx)
	must(err)
	f.redis = &redisProc{addr: next}
	fmt.Printf("  sentinel failover: primary %s killed, %s promoted %.1f s later\n", old, next, time.Since(start).Seconds())
}
