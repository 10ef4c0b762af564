package store

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestQueueFenceSharesTheQueuesSlot: the fence of a queue is on the master
// of asynq's keys of that queue ("asynq:{queue}:…"), whatever the queue.
func TestQueueFenceSharesTheQueuesSlot(t *testing.T) {
	k := newKeyspace(Layout{Tagged: true, Partitions: 16})
	for _, q := range []string{"otp", "transactional.0", "transactional.11", "marketing.3", "dispatch.2", "callbacks"} {
		if got, want := keySlot(k.queueFence(q)), keySlot("asynq:{"+q+"}:pending"); got != want {
			t.Errorf("queue %s: fence in slot %d, its tasks in %d", q, got, want)
		}
	}
}

// TestQueuesReplicated: on a cluster with one replica per master, the
// tasks enqueued on six shard queues by another client (asynq's) are on
// the replicas of their masters when QueuesReplicated returns; asking
// for more replicas than there are is ErrNotReplicated; on one primary
// it sends nothing at all (the replication stream keeps order there).
func TestQueuesReplicated(t *testing.T) {
	ctx := context.Background()
	c := testenv.NewCluster(t, 3, 1)
	asynqSide := c.Client(t)
	st := New(c.Client(t), 24*time.Hour, WithLayout(Layout{Tagged: true, Partitions: 16}), WithReplicas(1, 2*time.Second))

	var queues []string
	for i := range 6 {
		q := "transactional." + strconv.Itoa(i)
		queues = append(queues, q)
		if err := asynqSide.LPush(ctx, "asynq:{"+q+"}:pending", "task-"+q).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.QueuesReplicated(ctx, queues...); err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		key := "asynq:{" + q + "}:pending"
		master, err := asynqSide.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		replicas, err := c.ReplicasOf(ctx, master.Options().Addr)
		if err != nil || len(replicas) != 1 {
			t.Fatalf("replicas of %s: %v %v", master.Options().Addr, replicas, err)
		}
		if !onReplica(ctx, t, replicas[0], key) {
			t.Errorf("queue %s: its task is not on the replica %s", q, replicas[0])
		}
	}

	st.waitReplicas, st.waitTimeout = 2, 50*time.Millisecond
	var nr *NotReplicatedError
	if err := st.QueuesReplicated(ctx, queues...); !errors.As(err, &nr) || nr.Got != 1 || nr.Want != 2 {
		t.Fatalf("two replicas asked of masters with one: %v", err)
	}

	r := testenv.NewRedis(t)
	plain := r.Client(t)
	var trips redisx.RoundTrips
	plain.AddHook(&trips)
	one := New(plain, 24*time.Hour, WithReplicas(1, time.Second))
	if err := one.QueuesReplicated(ctx, queues...); err != nil || trips.Count() != 0 {
		t.Fatalf("one primary: %v after %d round trips, want none", err, trips.Count())
	}
}

// onReplica reads key on a cluster replica (READONLY on the same
// connection, else it redirects).
func onReplica(ctx context.Context, t *testing.T, addr, key string) bool {
	t.Helper()
	rc := testenv.NodeClient(addr)
	defer rc.Close()
	var n *redis.IntCmd
	if _, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ReadOnly(ctx)
		n = p.Exists(ctx, key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n.Val() == 1
}
