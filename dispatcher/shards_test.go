package dispatcher_test

import (
	"context"
	"testing"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// With SMSFLEET_LANE_SHARDS=4, each task the dispatcher makes is in the
// shard its id picks, and nothing is in the lanes' unsharded queues: a
// direct send by its SMS id, every dispatch of a message by its code, each
// fan-out batch by its batch id.
func TestEnqueuerSpreadsTasksOverShards(t *testing.T) {
	const shards = sms.Shards(4)
	g := newRig(t)
	g.enq.WithShards(shards)
	if g.enq.Shards() != shards {
		t.Fatalf("Shards() = %d, want %d", g.enq.Shards(), shards)
	}
	ctx := context.Background()
	ph := phones(7)

	direct := g.create(t, "AAAA-00000000-00000041", sms.OTP, true, 10, store.Audience{Zone: "UTC", SendAt: g.now, Phones: ph[:1]})
	if err := g.enq.Enqueue(ctx, direct); err != nil {
		t.Fatal(err)
	}
	id := storetest.SMSID(t, g.store, direct.Code, ph[0])
	if got := g.taskIDs(t, shards.Queue("otp", id)); len(got) != 1 || got[0] != id {
		t.Fatalf("queue %s holds %v, want %s", shards.Queue("otp", id), got, id)
	}

	sched := g.create(t, "AAAA-00000000-00000042", sms.Marketing, false, 3,
		store.Audience{Zone: "Europe/Berlin", SendAt: g.now, Phones: ph[1:4]},
		store.Audience{Zone: "Asia/Tokyo", SendAt: g.now, Phones: ph[4:]})
	if err := g.enq.Enqueue(ctx, sched); err != nil {
		t.Fatal(err)
	}
	dq := tasks.DispatchQueue(sched.Code, shards)
	if got := g.taskIDs(t, dq); len(got) != 2 || got[0] != tasks.DispatchID(sched.Code, 0) || got[1] != tasks.DispatchID(sched.Code, 1) {
		t.Fatalf("queue %s holds %v, want both groups' dispatch tasks", dq, got)
	}

	f := g.fanout()
	f.Batch = 2
	for group := range 2 {
		if err := f.ProcessTask(ctx, tasks.Dispatch(sched.Code, group, shards, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// Group 0: one chunk of 3 (batches of 2 and 1); group 1: one chunk of 3.
	batches := []string{
		tasks.FanoutBatchID(sched.Code, 0, 0, 0, 2), tasks.FanoutBatchID(sched.Code, 0, 0, 1, 2),
		tasks.FanoutBatchID(sched.Code, 1, 0, 0, 2), tasks.FanoutBatchID(sched.Code, 1, 0, 1, 2),
	}
	total := 0
	for _, q := range shards.Queues("marketing") {
		total += len(g.taskIDs(t, q))
	}
	if total != len(batches) {
		t.Fatalf("the marketing shards hold %d tasks, want %d", total, len(batches))
	}
	for _, b := range batches {
		if _, err := g.insp.GetTaskInfo(shards.Queue("marketing", b), b); err != nil {
			t.Fatalf("batch %s not in %s: %v", b, shards.Queue("marketing", b), err)
		}
	}
	for _, lane := range sms.Lanes {
		if got := g.taskIDs(t, lane); len(got) != 0 {
			t.Fatalf("the unsharded queue %s holds %v", lane, got)
		}
	}
}
