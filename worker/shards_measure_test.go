package worker

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestMeasureIdleShardCost measures what an idle worker process costs
// Redis per shard count: asynq has no blocking dequeue, and a lane
// server polls each of its queues in turn (one dequeue script per shard
// per poll), and its forwarder moves due tasks queue by queue. It runs
// the default worker settings over an empty redis-server for
// SMSFLEET_MEASURE_IDLE_SHARDS seconds per shard count and prints the
// commands per second and Redis CPU (INFO commandstats, used_cpu_*):
//
//	SMSFLEET_MEASURE_IDLE_SHARDS=10 go test ./worker/ -run TestMeasureIdleShardCost -v
func TestMeasureIdleShardCost(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("SMSFLEET_MEASURE_IDLE_SHARDS"))
	if secs <= 0 {
		t.Skip("set SMSFLEET_MEASURE_IDLE_SHARDS=<seconds per shard count> to measure")
	}
	for _, n := range []sms.Shards{1, 4, 16} {
		r := testenv.NewRedis(t)
		rdb := r.Client(t)
		ctx := context.Background()
		servers := NewServers(rdb, config.Default().Worker, ShardedLanes(n), time.Second, zap.NewNop())
		for _, srv := range servers {
			if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second) // past the servers' start-up writes
		calls0, cpu0 := redisLoad(t, ctx, rdb)
		start := time.Now()
		time.Sleep(time.Duration(secs) * time.Second)
		calls1, cpu1 := redisLoad(t, ctx, rdb)
		elapsed := time.Since(start).Seconds()
		for _, srv := range servers {
			srv.Shutdown()
		}
		t.Logf("shards=%d: %.0f commands/s, %.1f%% of a Redis core (idle worker process, default intervals)",
			n, float64(calls1-calls0)/elapsed, 100*(cpu1-cpu0)/elapsed)
	}
}

// redisLoad reads the calls of every command and the server's CPU seconds.
func redisLoad(t *testing.T, ctx context.Context, rdb *redis.Client) (calls int64, cpu float64) {
	t.Helper()
	info, err := rdb.Info(ctx, "commandstats", "cpu").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "cmdstat_") && !strings.HasPrefix(line, "cmdstat_info:") {
			_, stats, _ := strings.Cut(line, ":")
			calls0, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
			c, _ := strconv.ParseInt(calls0, 10, 64)
			calls += c
		}
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				cpu += f
			}
		}
	}
	return calls, cpu
}
