package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// clusterShards spreads each lane over enough queues that a 3-master
// cluster gets some of every lane on more than one master.
const clusterShards = sms.Shards(8)

// asynq itself on a real 3-master Redis Cluster with sharded lanes: tasks
// of every lane, enqueued through asynq.NewClientFromRedisClient on a
// cluster client, are processed by the worker's lane servers
// (NewServers: asynq.NewServerFromRedisClient on the same client), each
// exactly once, and the lanes' queues sit on more than one master. (The
// fleet's own keys on a cluster are the store's layout, not tested here.)
func TestShardedLanesRunOnARedisCluster(t *testing.T) {
	c := testenv.NewCluster(t, 3, 0)
	cc := c.Client(t)
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(cc)

	// Sends, batches and dispatches on every lane: 40 tasks per lane.
	want := map[string]string{} // task id -> the queue it must run from
	for i := range 40 {
		for _, typ := range []sms.Type{sms.OTP, sms.Transactional, sms.Marketing} {
			id := fmt.Sprintf("C%03d-00000000-00000001.%s", i, typ)
			task := tasks.SendFor(tasks.SendPayload{ID: id, App: "SHOP1-00001", Phone: "+4915112000001"}, typ, clusterShards, 3, time.Minute)
			if i%4 == 0 {
				id = tasks.IntakeBatchID(id)
				task = tasks.SendBatch(id, []tasks.SendPayload{{ID: id[3:], App: "SHOP1-00001", Phone: "+4915112000001"}}, typ, clusterShards, 3, time.Minute)
			}
			info, err := client.Enqueue(task)
			if err != nil {
				t.Fatal(err)
			}
			want[id] = clusterShards.Queue(typ.Lane(), id)
			if info.Queue != want[id] {
				t.Fatalf("task %s enqueued on %s, want %s", id, info.Queue, want[id])
			}
		}
		code := fmt.Sprintf("D%03d-00000000-00000001", i)
		if _, err := client.Enqueue(tasks.Dispatch(code, 0, clusterShards, 0)); err != nil {
			t.Fatal(err)
		}
		want[tasks.DispatchID(code, 0)] = tasks.DispatchQueue(code, clusterShards)
	}

	// Before any worker runs, each lane's pending tasks are on more than
	// one master: each queue's keys share its hash tag, asynq:{queue}:….
	for _, lane := range sms.Lanes {
		holders, total := map[string]int{}, 0 // master -> pending tasks of the lane
		for _, q := range clusterShards.Queues(lane) {
			slot, err := cc.ClusterKeySlot(ctx, "asynq:{"+q+"}:pending").Result()
			if err != nil {
				t.Fatal(err)
			}
			master, err := c.MasterOf(ctx, int(slot))
			if err != nil {
				t.Fatal(err)
			}
			rdb := testenv.NodeClient(master)
			n, err := rdb.LLen(ctx, "asynq:{"+q+"}:pending").Result()
			_ = rdb.Close()
			if err != nil {
				t.Fatalf("LLEN of %s's pending list on its master %s: %v", q, master, err)
			}
			if n > 0 {
				holders[master] += int(n)
				total += int(n)
			}
		}
		if len(holders) < 2 || total != 40 {
			t.Errorf("lane %s: %d pending tasks on the masters %v; want 40, on more than one master", lane, total, holders)
		}
	}

	ran := make(chan [2]string, len(want))
	handler := asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		q, _ := asynq.GetQueueName(ctx)
		ran <- [2]string{id, q}
		return nil
	})
	cfg := config.Default().Worker
	for _, srv := range NewServers(cc, cfg, ShardedLanes(clusterShards), time.Second, zap.NewNop()) {
		if err := srv.Start(handler); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	got := map[string]int{}
	for range len(want) {
		r := <-ran
		got[r[0]]++
		if r[1] != want[r[0]] {
			t.Errorf("task %s ran from %s, want %s", r[0], r[1], want[r[0]])
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("task %s ran %d times, want once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct tasks ran, want %d", len(got), len(want))
	}
}

// A batch's check for SMS that have their own task looks each SMS up in
// its own shard, which on a cluster is on whichever master serves that
// shard: one pipeline, split by go-redis per master.
func TestOwnedElsewhereOnARedisCluster(t *testing.T) {
	c := testenv.NewCluster(t, 3, 0)
	cc := c.Client(t)
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(cc)
	s := &Sender{Store: store.New(cc, time.Hour), Shards: clusterShards}
	var refs []tasks.SendPayload
	masters := map[string]bool{}
	for i := range 24 {
		id := fmt.Sprintf("E%03d-00000000-00000001.0123456789abcdef", i)
		refs = append(refs, tasks.SendPayload{ID: id, App: "SHOP1-00001", Phone: "+4915112000001"})
		if i%2 == 1 {
			continue // no task of its own
		}
		if _, err := client.Enqueue(tasks.SendFor(refs[i], sms.Marketing, clusterShards, 3, time.Minute), asynq.ProcessIn(time.Hour)); err != nil {
			t.Fatal(err)
		}
		slot, err := cc.ClusterKeySlot(ctx, taskKey(clusterShards.Queue("marketing", id), id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.MasterOf(ctx, int(slot))
		if err != nil {
			t.Fatal(err)
		}
		masters[m] = true
	}
	if len(masters) < 2 {
		t.Fatalf("the SMS's own tasks are all on %v, want more than one master", masters)
	}
	owned, err := s.ownedElsewhere(ctx, sms.Marketing, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range owned {
		if o != (i%2 == 0) {
			t.Errorf("SMS %d (%s): owned elsewhere %v, want %v", i, refs[i].ID, o, i%2 == 0)
		}
	}
}
