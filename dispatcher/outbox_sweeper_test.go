package dispatcher

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestOutboxSweeperEnqueuesWhatTheIntakeDidNot: a message stored but never
// enqueued (the intake crashed in between) is enqueued by the sweeper
// component and leaves the outbox; the component stops with its context.
func TestOutboxSweeperEnqueuesWhatTheIntakeDidNot(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	q := asynq.NewClientFromRedisClient(rdb)
	defer q.Close()
	enq := NewEnqueuer(st, q, 4, 10*time.Second, nil)
	m := &store.Message{App: "SHOP1-00001", Code: "AAAA-00000000-0000000A", Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, ChunkSize: 100}
	if _, _, err := st.CreateMessage(ctx, m, []store.Audience{{Phones: []string{"+4915112000010", "+4915112000011"}, SendAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	due := func() int {
		codes, err := st.OutboxDue(ctx, 0, time.Now(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(codes)
	}
	if due() != 1 {
		t.Fatal("the stored message is not in the outbox")
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	s := &OutboxSweeper{Enqueuer: enq, Interval: 20 * time.Millisecond, Log: zap.NewNop()}
	go func() { done <- s.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for due() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not enqueue the message")
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).Queues()
	if err != nil || len(info) == 0 {
		t.Fatalf("no queue holds the enqueued task: %v %v", info, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
}

// TestOutboxSweeperFailsForTheSupervisor: a sweep that cannot reach Redis
// ends Run with the error, so the supervisor restarts it with backoff.
func TestOutboxSweeperFailsForTheSupervisor(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour)
	q := asynq.NewClientFromRedisClient(rdb)
	defer q.Close()
	s := &OutboxSweeper{Enqueuer: NewEnqueuer(st, q, 4, time.Second, nil), Interval: 10 * time.Millisecond, Log: zap.NewNop()}
	r.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Run with Redis gone: %v (ctx %v), want the sweep's error", err, ctx.Err())
	}
}

// TestOutboxSweepCountsOnlyRealRepairs (issue 12, item 10): a direct send
// merely queued behind a backlog is still in the outbox (the worker's load
// clears it) and due for the sweep; its task exists, so the sweep repairs
// nothing and says so. A message whose enqueue never happened is the one
// repair.
func TestOutboxSweepCountsOnlyRealRepairs(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	q := asynq.NewClientFromRedisClient(rdb)
	defer q.Close()
	enq := NewEnqueuer(st, q, 4, 10*time.Second, nil)
	write := func(code, phone string) store.Message {
		m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, ChunkSize: 100, Direct: true}
		if _, _, err := st.CreateMessage(ctx, m, []store.Audience{{Phones: []string{phone}, SendAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		return *m
	}
	queued := write("AAAA-00000000-0000000B", "+4915112000020")
	if err := enq.Enqueue(ctx, queued); err != nil { // the intake's enqueue; no worker runs
		t.Fatal(err)
	}
	n, err := enq.SweepOutbox(ctx, 0, zap.NewNop())
	if err != nil || n != 0 {
		t.Fatalf("sweep over a queued send: %d repairs (%v), want 0", n, err)
	}
	write("AAAA-00000000-0000000C", "+4915112000021") // the intake died before its enqueue
	n, err = enq.SweepOutbox(ctx, 0, zap.NewNop())
	if err != nil || n != 1 {
		t.Fatalf("sweep over a stranded send: %d repairs (%v), want 1", n, err)
	}
	if qi, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(sms.Transactional.Lane()); err != nil || qi.Size != 2 {
		t.Fatalf("queue %+v %v, want both sends once", qi, err)
	}
}
