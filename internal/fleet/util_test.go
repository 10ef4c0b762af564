package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/worker/provider"
)

// runDispatch runs the fan-out handler of code synchronously, as the worker
// would when its dispatch task comes due.
func runDispatch(t *testing.T, e *env, code string) {
	t.Helper()
	f := &dispatcher.Fanout{Store: e.fleet.Store(), Enqueuer: e.fleet.Enqueuer(), Log: zap.NewNop(), Parallel: 4}
	if err := f.ProcessTask(context.Background(), asynq.NewTask(tasks.TypeDispatch, []byte(code))); err != nil {
		t.Fatalf("dispatch %s: %v", code, err)
	}
}

// newWorkerOn starts a worker-only fleet on e's Redis and simulator; the
// returned func stops it.
func newWorkerOn(t *testing.T, e *env) func() {
	t.Helper()
	f, err := fleet.New(context.Background(), fleet.Options{
		Config: e.cfg, Roles: fleet.Roles{Worker: true}, Redis: e.rdb,
		Provider: provider.NewSimulator("simulator", e.simSrv.URL+"/simulator", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Shutdown(ctx)
	}
}

func redisZ(code string) redis.Z { return redis.Z{Score: 0, Member: code} }

func zapNop() *zap.Logger { return zap.NewNop() }
