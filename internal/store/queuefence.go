package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// pQueueFence names a queue's replication fence (QueuesReplicated):
//
//	sf:qf:{queue}        string "1", the last fence written on that queue's master (expires after queueFenceTTL)
//
// The braces make it a hash tag equal to asynq's own ("asynq:{queue}:…"),
// so the fence lands on the master that holds the queue's tasks.
const pQueueFence = "sf:qf:"

// queueFenceTTL bounds a fence key: it is only ever written, never read.
const queueFenceTTL = time.Minute

func (k *keyspace) queueFence(queue string) string { return pQueueFence + "{" + queue + "}" }

// QueuesReplicated returns once the tasks already enqueued on queues are
// on the configured number of replicas (SMSFLEET_REDIS_WAIT_REPLICAS), so
// that a caller may then record, on another master, that those tasks
// exist (the intake's outbox removal, the fan-out's finish, a batch's
// completion, the outcome relay's acknowledgement). It returns
// *NotReplicatedError when too few replicas acknowledged in time; the
// caller then keeps its own record (the outbox entry, the stream entry),
// which leaves the repair to its sweeper.
//
// Only a Redis Cluster needs it. On one primary (standalone, Sentinel),
// replication is one ordered stream: a replica that has the caller's
// later record has the tasks too. On a cluster the tasks and the record
// are on different masters, each replicating on its own: when the tasks'
// master died before its replica had them while the record's master had
// replicated the record, the SMS were left with no task and no outbox
// entry (issue 15, 25 of 2,000 SMS in the failover test).
//
// asynq's enqueue cannot be followed by WAIT on its own connection, and
// WAIT counts only the writes of the connection it runs on; so the fence
// writes one key on each master holding the queues (pQueueFence) and
// WAITs on that connection. Its write comes after the enqueues in the
// master's replication stream, so a replica that acknowledges it has
// them. Masters are fenced in parallel: one round trip in all.
func (s *Store) QueuesReplicated(ctx context.Context, queues ...string) error {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if s.waitReplicas <= 0 || !ok || len(queues) == 0 {
		return nil
	}
	fences := map[*redis.Client]string{}
	for _, q := range queues {
		key := s.k.queueFence(q)
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return fmt.Errorf("redis cluster: master of queue %s: %w", q, err)
		}
		fences[node] = key
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for node, key := range fences {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.fence(ctx, node, key)
			mu.Lock()
			first = firstErr(first, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return first
}

// fence writes key on node and waits for its replicas, on one connection.
func (s *Store) fence(ctx context.Context, node *redis.Client, key string) error {
	var wait *redis.Cmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, "1", queueFenceTTL)
		wait = p.Do(ctx, s.waitArgs(true)...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue fence %s: %w", key, err)
	}
	if err := s.waitError(wait); err != nil {
		return fmt.Errorf("queue fence %s: %w", key, err)
	}
	return nil
}
