package worker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func TestLaneQueuesOfAServer(t *testing.T) {
	tests := []struct {
		lanes Lanes
		lane  string
		want  map[string]int
	}{
		{ShardedLanes(1), "otp", map[string]int{"otp": 1}},
		{ShardedLanes(0), "dispatch", map[string]int{"dispatch": 1}},
		{ShardedLanes(3), "marketing", map[string]int{"marketing.0": 1, "marketing.1": 1, "marketing.2": 1}},
		{Lanes{}, "otp", map[string]int{"otp": 1}},
		{Lanes{"otp": {"otp.0", "otp.1", "otp"}}, "otp", map[string]int{"otp.0": 1, "otp.1": 1, "otp": 1}},
	}
	for _, tt := range tests {
		if got := laneQueues(tt.lanes, tt.lane); !maps.Equal(got, tt.want) {
			t.Errorf("laneQueues(%v, %q) = %v, want %v", tt.lanes, tt.lane, got, tt.want)
		}
	}
}

// After a change of the shard count the workers also serve the queues of
// the earlier count that asynq still lists, and only the lanes' queues.
func TestLaneQueuesKeepsAnEarlierShardCountsQueues(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	client := asynq.NewClientFromRedisClient(rdb)
	// Tasks of a fleet that ran with one shard, then with 8.
	for _, q := range []string{"transactional", "dispatch", "otp.7", "otp.2", tasks.CallbackQueue} {
		if _, err := client.Enqueue(asynq.NewTask("x", nil), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LaneQueues(asynq.NewInspectorFromRedisClient(rdb), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := Lanes{
		"otp":           {"otp.0", "otp.1", "otp.2", "otp.7"},
		"transactional": {"transactional.0", "transactional.1", "transactional"},
		"marketing":     {"marketing.0", "marketing.1"},
		"dispatch":      {"dispatch.0", "dispatch.1", "dispatch"},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("LaneQueues = %v, want %v", got, want)
	}
	if q := got.Queues(); len(q) != 12 || q[0] != "otp.0" || q[11] != "dispatch" {
		t.Fatalf("Queues() = %v", q)
	}
}

// A worker with sharded lanes runs every task of every shard, each on its
// lane's one server: with SMSFLEET_WORKER_CONCURRENCY=2, tasks held in the
// transactional shards occupy two slots of the lane, not two per shard.
func TestShardedLanesShareOneBudgetPerLane(t *testing.T) {
	const shards = sms.Shards(3)
	rdb := testenv.NewRedis(t).Client(t)
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	cfg := config.Default().Worker
	cfg.Concurrency, cfg.DispatchConcurrency = 2, 2

	ran := make(chan string, 64) // the queue of each task run
	entered, release := make(chan struct{}, 16), make(chan struct{})
	handler := asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		if task.Type() == "hold" {
			entered <- struct{}{}
			<-release
		}
		q, _ := asynq.GetQueueName(ctx)
		ran <- q
		return nil
	})
	for _, srv := range NewServers(rdb, cfg, ShardedLanes(shards), 0, zap.NewNop()) {
		if err := srv.Start(handler); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}

	// Six held tasks, two in each transactional shard.
	for i := range 6 {
		q := shards.Queues("transactional")[i%3]
		if _, err := client.Enqueue(asynq.NewTask("hold", nil), asynq.Queue(q), asynq.TaskID(fmt.Sprint("hold", i))); err != nil {
			t.Fatal(err)
		}
	}
	<-entered
	<-entered
	// Two slots taken: the lane's server cannot dequeue a third, whatever
	// shard it is in, until one is released.
	pending, active := 0, 0
	for _, q := range shards.Queues("transactional") {
		qi, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		pending, active = pending+qi.Pending, active+qi.Active
	}
	if active != 2 || pending != 4 {
		t.Fatalf("with 2 slots held: %d active, %d pending in the transactional shards; want 2 and 4", active, pending)
	}

	// Every shard of every lane is served.
	for _, q := range shards.AllQueues() {
		if _, err := client.Enqueue(asynq.NewTask("run", nil), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	want := map[string]int{}
	for _, q := range shards.AllQueues() {
		want[q] = 1
	}
	for _, q := range shards.Queues("transactional") {
		want[q] += 2
	}
	got := map[string]int{}
	for range 6 + len(shards.AllQueues()) {
		got[<-ran]++
	}
	if !maps.Equal(got, want) {
		t.Fatalf("tasks run per queue: %v, want %v", got, want)
	}
}
