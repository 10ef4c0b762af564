package worker

import (
	"context"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/logging"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// NewServers returns the asynq servers of one worker process: one per
// lane. A server per lane means a marketing backlog can never hold the
// concurrency slots OTP needs, and each server's fetch loop polls only its
// own lane (one asynq server fetches serially, trying empty lanes in turn,
// which halved throughput when all four lanes shared one).
//
// A lane of several shards (SMSFLEET_LANE_SHARDS) is still one server:
// its Queues are every queue of the lane in lanes (ShardedLanes, or
// LaneQueues with an earlier shard count's queues) with equal weights, so
// the lane keeps one concurrency budget per process whatever the shard
// count, and asynq's weighted pick spreads the fetches over the shards.
// An idle lane polls each of its queues in turn: N shards cost N empty
// dequeues per poll (measured, docs/operations.md).
//
// The OTP lane polls every OTPCheckInterval instead of TaskCheckInterval:
// asynq has no blocking dequeue, so a code that finds its lane idle waits
// for the next poll, and that wait was most of an OTP's latency (p50 52 ms
// at 100 ms, docs/benchmarks.md).
func NewServers(rdb redis.UniversalClient, cfg config.Worker, lanes Lanes, grace time.Duration, log *zap.Logger) []*asynq.Server {
	servers := make([]*asynq.Server, 0, len(sms.Lanes))
	for _, lane := range sms.Lanes {
		servers = append(servers, NewServer(rdb, laneConfig(cfg, lane), laneConcurrency(cfg, lane), laneQueues(lanes, lane), grace, log))
	}
	return servers
}

// laneQueues is one lane's server's Queues: every queue of the lane,
// weight 1 (a lane missing from lanes: its own name, as with one shard).
func laneQueues(lanes Lanes, lane string) map[string]int {
	qs := lanes[lane]
	if len(qs) == 0 {
		qs = []string{lane}
	}
	queues := make(map[string]int, len(qs))
	for _, q := range qs {
		queues[q] = 1
	}
	return queues
}

// laneConfig is the worker's settings as one lane's server uses them.
func laneConfig(cfg config.Worker, lane string) config.Worker {
	if lane == sms.OTP.Lane() && cfg.OTPCheckInterval > 0 {
		cfg.TaskCheckInterval = cfg.OTPCheckInterval
	}
	return cfg
}

// laneConcurrency is how many tasks of a lane one process runs at once.
func laneConcurrency(cfg config.Worker, lane string) int {
	if lane == sms.DispatchLane {
		return cfg.DispatchConcurrency
	}
	return cfg.Concurrency
}

// NewServer returns one asynq server over queues with the worker's retry
// and polling settings.
func NewServer(rdb redis.UniversalClient, cfg config.Worker, concurrency int, queues map[string]int, grace time.Duration, log *zap.Logger) *asynq.Server {
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   queues,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.DelayedCheckInterval,
		RetryDelayFunc:           retryDelay(Backoff(cfg.RetryBase, cfg.RetryMax)),
		IsFailure:                isFailure,
		ShutdownTimeout:          grace,
		Logger:                   asynqLogger(log),
		LogLevel:                 asynq.WarnLevel,
	})
}

// asynqRepeatEvery is how often one asynq message may be logged: while
// Redis is down asynq repeats the same failure about 20 times a second.
const asynqRepeatEvery = 10 * time.Second

// asynqLoggers holds one rate-limited asynq logger per process logger, so
// a worker's five servers share one budget per message.
var asynqLoggers sync.Map // *zap.Logger -> *logging.RateLimited

func asynqLogger(log *zap.Logger) *logging.RateLimited {
	if l, ok := asynqLoggers.Load(log); ok {
		return l.(*logging.RateLimited)
	}
	l, _ := asynqLoggers.LoadOrStore(log, logging.NewRateLimited(log.Named("asynq"), asynqRepeatEvery, nil))
	return l.(*logging.RateLimited)
}

// Backoff is the repository's one backoff (internal/backoff) as asynq's
// retry delay: retry n waits between half and all of base·2ⁿ (capped at
// maxDelay), so a provider outage does not bring every retry back at the
// same instant.
func Backoff(base, maxDelay time.Duration) asynq.RetryDelayFunc {
	p := backoff.Policy{Base: base, Max: maxDelay}
	return func(n int, _ error, _ *asynq.Task) time.Duration { return p.Delay(n) }
}

// NewMux routes the task types to their handlers.
func NewMux(send, dispatch asynq.Handler) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeSend, send)
	if b, ok := send.(interface {
		ProcessBatch(context.Context, *asynq.Task) error
	}); ok {
		mux.HandleFunc(tasks.TypeSendBatch, b.ProcessBatch)
	}
	mux.Handle(tasks.TypeDispatch, dispatch)
	return mux
}
