package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// scenario is one fault injected while n SMS are sent at rate per second.
type scenario struct {
	name, what string
	n, rate    int
	opts       fleetOptions
	// fault runs alongside the sending and returns when the fault is over
	// (its last process restarted, Redis resumed, the provider healthy).
	fault func(ctx context.Context, f *fleet, sending time.Duration)
}

// settleFor bounds how long a scenario waits after its fault for every
// accepted SMS to be done: asynq's recoverer alone can take two minutes.
const settleFor = 150 * time.Second

var scenarios = []scenario{
	{name: "worker-kill", what: "kill -9 of one of the two workers every 5 s (restarted 1 s later) while sending", n: 1500, rate: 50,
		fault: func(ctx context.Context, f *fleet, sending time.Duration) {
			every(ctx, 5*time.Second, sending, func(i int) { restartAfter(f.workers[i%2], time.Second) })
		}},
	{name: "worker-kill-batch", what: "worker-kill at 500 SMS/s, so concurrent single sends go in batch tasks (decision 21): kill -9 of one of the two workers every 5 s", n: 20000, rate: 500,
		fault: func(ctx context.Context, f *fleet, sending time.Duration) {
			every(ctx, 5*time.Second, sending, func(i int) { restartAfter(f.workers[i%2], time.Second) })
		}},
	{name: "worker-kill-nobatch", what: "worker-kill-batch with SMSFLEET_WORKER_BATCH=1 (a task per SMS), for comparison", n: 20000, rate: 500,
		opts: fleetOptions{env: []string{"SMSFLEET_WORKER_BATCH=1"}},
		fault: func(ctx context.Context, f *fleet, sending time.Duration) {
			every(ctx, 5*time.Second, sending, func(i int) { restartAfter(f.workers[i%2], time.Second) })
		}},
	{name: "api-kill", what: "kill -9 of the api every 6 s (restarted 1 s later); clients retry with their transactionId", n: 1000, rate: 40,
		fault: func(ctx context.Context, f *fleet, sending time.Duration) {
			every(ctx, 6*time.Second, sending, func(int) { restartAfter(f.api, time.Second) })
		}},
	{name: "receipts-kill", what: "kill -9 of receipts (webhooks and consumer) every 8 s (restarted 2 s later); the provider retries receipts for a minute", n: 1000, rate: 40,
		fault: func(ctx context.Context, f *fleet, sending time.Duration) {
			every(ctx, 8*time.Second, sending, func(int) { restartAfter(f.receipts, 2*time.Second) })
		}},
	{name: "redis-freeze", what: "SIGSTOP of Redis for 20 s during sends, then SIGCONT", n: 1000, rate: 40,
		fault: func(ctx context.Context, f *fleet, _ time.Duration) {
			sleep(ctx, 5*time.Second)
			f.redis.signal(syscall.SIGSTOP)
			sleep(ctx, 20*time.Second)
			f.redis.signal(syscall.SIGCONT)
		}},
	{name: "redis-kill", what: "kill -9 of Redis (AOF everysec) during sends, restarted 2 s later on its AOF", n: 1000, rate: 40,
		fault: func(ctx context.Context, f *fleet, _ time.Duration) {
			sleep(ctx, 8*time.Second)
			f.redis.kill9()
			sleep(ctx, 2*time.Second)
			must(f.redis.restart())
		}},
	{name: "aof-truncate", what: "host crash: kill -9 of Redis (AOF everysec), the AOF cut back to its size 1 s earlier, restart with aof-load-truncated", n: 1000, rate: 40,
		fault: func(ctx context.Context, f *fleet, _ time.Duration) {
			crashHost(ctx, f)
			sleep(ctx, time.Second)
			must(f.redis.restart())
		}},
	{name: "aof-truncate-durable", what: "the aof-truncate host crash with a replica and SMSFLEET_REDIS_WAIT_REPLICAS=1: fail over (REPLICAOF NO ONE on the replica, roles restarted on it, a new replica), the old primary never returns", n: 1000, rate: 40,
		opts: fleetOptions{replica: true, env: []string{"SMSFLEET_REDIS_WAIT_REPLICAS=1", "SMSFLEET_REDIS_WAIT_TIMEOUT=1s"}},
		fault: func(ctx context.Context, f *fleet, _ time.Duration) {
			crashHost(ctx, f)
			sleep(ctx, time.Second) // the failure is noticed
			failover(ctx, f)
		}},
	{name: "sentinel-failover", what: "SMSFLEET_REDIS_MODE=sentinel (primary, 2 replicas, 3 sentinels, down-after 1 s) with SMSFLEET_REDIS_WAIT_REPLICAS=1: kill -9 of the primary a third into the sends; the sentinels promote a replica, no role is restarted", n: 20000, rate: 500,
		opts:  fleetOptions{sentinel: true, env: []string{"SMSFLEET_REDIS_WAIT_REPLICAS=1", "SMSFLEET_REDIS_WAIT_TIMEOUT=1s"}},
		fault: sentinelFailover},
	{name: "provider-hang", what: "sim-a holds its answers 15 s (client timeout 10 s) for 30 s; route sim-a, sim-b", n: 1000, rate: 40,
		fault: func(ctx context.Context, f *fleet, _ time.Duration) {
			sleep(ctx, 5*time.Second)
			f.proxy.setHang("sim-a")
			sleep(ctx, 30*time.Second)
			f.proxy.setHang("")
		}},
	{name: "providers-down", what: "sim-a and sim-b both down (503) for 90 s; retries compressed 4x (SMSFLEET_WORKER_RETRY_BASE=250ms)", n: 100, rate: 20,
		opts: fleetOptions{env: []string{"SMSFLEET_WORKER_RETRY_BASE=250ms"}},
		fault: func(ctx context.Context, f *fleet, _ time.Duration) {
			sleep(ctx, 3*time.Second)
			must(f.proxy.setFaults("sim-a", `{"down":true}`))
			must(f.proxy.setFaults("sim-b", `{"down":true}`))
			sleep(ctx, 90*time.Second)
			must(f.proxy.setFaults("sim-a", `{}`))
			must(f.proxy.setFaults("sim-b", `{}`))
		}},
}

// crashHost emulates a crash of the Redis primary's host 9 s into the
// sends: kill -9, and its newest AOF file cut back to its size 1 s earlier
// (what appendfsync everysec may lose).
func crashHost(ctx context.Context, f *fleet) {
	sizes := make([]int64, 0, 100)
	for range 90 { // 9 s, sampled every 100 ms
		sizes = append(sizes, fileSize(f.redis.incrAOF()))
		sleep(ctx, 100*time.Millisecond)
	}
	aof := f.redis.incrAOF()
	f.redis.kill9()
	before, cut := fileSize(aof), sizes[len(sizes)-10]
	must(os.Truncate(aof, cut))
	fmt.Printf("  host crash: %s cut from %d to %d bytes (the last second)\n", aof, before, cut)
}

// failover does what an operator or Sentinel does when the primary's host
// is gone: promote the replica (REPLICAOF NO ONE), point every role at it
// (SMSFLEET_REDIS_ADDR; SIGTERM, then SIGKILL after 7 s, then start) and
// replace the lost host by a new replica of the promoted one, so that
// SMSFLEET_REDIS_WAIT_REPLICAS=1 can be met again. The old primary is not
// restarted. Returns once the api answers /readyz.
func failover(ctx context.Context, f *fleet) {
	start := time.Now()
	if f.replica == nil {
		panic("failover: the fleet has no replica (fleetOptions.replica)")
	}
	must(f.replica.promote())
	f.oldRedis = append(f.oldRedis, f.redis)
	f.redis, f.replica = f.replica, nil
	var wg sync.WaitGroup
	var replacement *redisProc
	var replErr error
	wg.Go(func() {
		replacement, replErr = startRedisNamed(f.dir, "redis-replica2", "everysec", f.redis.addr)
	})
	for _, p := range f.roles() {
		wg.Go(func() {
			p.setEnv("SMSFLEET_REDIS_ADDR=" + f.redis.addr)
			p.stopGracefully(7 * time.Second)
			if err := p.start(); err != nil {
				fmt.Fprintln(os.Stderr, "chaos: failover:", err)
			}
		})
	}
	wg.Wait()
	f.replica = replacement
	if replErr != nil {
		fmt.Fprintln(os.Stderr, "chaos: failover: new replica:", replErr)
	}
	if err := waitHTTP("http://"+f.apiAddr+"/readyz", 30*time.Second); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "chaos: failover:", err)
	}
	newReplica := "none"
	if replacement != nil && replErr == nil {
		newReplica = replacement.addr
	}
	fmt.Printf("  failover: %s promoted, roles restarted on it, new replica %s; %.1f s\n", f.redis.addr, newReplica, time.Since(start).Seconds())
}

// every calls fn(i) every period for at most d (and at most 100 times).
func every(ctx context.Context, period, d time.Duration, fn func(i int)) {
	end := time.Now().Add(d)
	for i := 0; i < 100 && time.Now().Add(period).Before(end); i++ {
		sleep(ctx, period)
		if ctx.Err() != nil {
			return
		}
		fn(i)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// runScenario starts a fresh fleet, sends while the fault runs, waits for
// the fleet to settle and judges every accepted SMS.
func runScenario(ctx context.Context, bin, dir string, s scenario, n int) (r row) {
	r.scenario = s.name
	if n > 0 {
		s.n = n
	}
	f, err := startFleet(bin, dir, s.opts)
	defer f.stop()
	if err != nil {
		r.err = err.Error()
		return r
	}
	sending := time.Duration(s.n/s.rate) * time.Second
	faultDone := make(chan time.Time, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintln(os.Stderr, "chaos: fault:", p)
			}
			faultDone <- time.Now()
		}()
		s.fault(ctx, f, sending)
	}()
	l := send(ctx, f.apiAddr, s.n, s.rate)
	faultEnd := <-faultDone
	r.recovery = settle(ctx, f, l, faultEnd, settleFor)
	fmt.Println("  ", f.proxy.summary())
	j := judge(ctx, f, l)
	j.scenario, j.recovery = s.name, r.recovery
	return j
}
