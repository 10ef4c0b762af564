package worker

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestArchiveRetentionDeletesNumbersPastTheirRetention: send tasks that
// failed for good (archived by a real asynq server, as terminal.go does)
// are deleted once their application's number retention has passed since
// they failed, and not before; an id-only payload (no number) and a task
// of another application with a longer retention stay.
func TestArchiveRetentionDeletesNumbersPastTheirRetention(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	shards := sms.Shards(1)
	queue := shards.Queue(sms.Transactional.Lane(), "x")
	cl := asynq.NewClientFromRedisClient(rdb)
	for _, p := range []tasks.SendPayload{
		{ID: "short-1", App: "SHORT-00001", Phone: "+4915100000001"},
		{ID: "long-1", App: "LONGR-00001", Phone: "+4915100000002"},
		{ID: "idonly-1"},
	} {
		if _, err := cl.Enqueue(tasks.SendFor(p, sms.Transactional, shards, 3, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	batch := tasks.SendBatch("sb:b1", []tasks.SendPayload{
		{ID: "b-1", App: "LONGR-00001", Phone: "+4915100000003"},
		{ID: "b-2", App: "SHORT-00001", Phone: "+4915100000004"},
	}, sms.Transactional, shards, 3, time.Minute)
	if _, err := cl.Enqueue(batch); err != nil {
		t.Fatal(err)
	}
	archiveAll(t, rdb, queue, 4)

	retention := map[string]time.Duration{"SHORT-00001": time.Hour, "LONGR-00001": 48 * time.Hour}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	now := time.Now()
	sweeper := &ArchiveRetention{
		Inspector: insp, Queues: []string{queue, "otp"}, // otp has no archive yet
		Retention: func(app string) time.Duration { return retention[app] },
		Now:       func() time.Time { return now }, Log: zap.NewNop(),
	}
	for _, step := range []struct {
		name  string
		at    time.Duration
		count int
		left  []string
	}{
		{"just failed", 0, 0, []string{"idonly-1", "long-1", "sb:b1", "short-1"}},
		{"short retention passed", time.Hour + time.Minute, 2, []string{"idonly-1", "long-1"}},
		{"long retention passed", 48*time.Hour + time.Minute, 1, []string{"idonly-1"}},
		{"again", 49 * time.Hour, 0, []string{"idonly-1"}},
	} {
		now = time.Now().Add(step.at)
		n, err := sweeper.Sweep(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := archivedIDs(t, insp, queue); n != step.count || fmt.Sprint(got) != fmt.Sprint(step.left) {
			t.Fatalf("%s: deleted %d, left %v; want %d, %v", step.name, n, got, step.count, step.left)
		}
	}
}

// archiveAll runs queue with a handler that gives up on every task at
// once (asynq.SkipRetry, as terminal.go's error does) until n tasks are
// archived.
func archiveAll(t *testing.T, rdb *redis.Client, queue string, n int) {
	t.Helper()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{queue: 1}, Concurrency: 2, LogLevel: asynq.FatalLevel})
	h := asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		return fmt.Errorf("sms failed for good: %w", asynq.SkipRetry)
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	deadline := time.Now().Add(30 * time.Second) // a guard against a hang, not a speed check
	for len(archivedIDs(t, insp, queue)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %v archived, want %d", archivedIDs(t, insp, queue), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func archivedIDs(t *testing.T, insp *asynq.Inspector, queue string) []string {
	t.Helper()
	infos, err := insp.ListArchivedTasks(queue)
	if err != nil && err != asynq.ErrQueueNotFound {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(infos))
	for _, i := range infos {
		ids = append(ids, i.ID)
	}
	sort.Strings(ids)
	return ids
}
