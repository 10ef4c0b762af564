package dispatcher_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// With a batch size, a fan-out enqueues one batch task per Batch positions
// of each chunk, named by message, group, chunk, position and size: a
// re-run (asynq redelivers after a crash) enqueues none twice, and one
// whose batch was lost enqueues that batch again with the SMS still
// queued, and only it.
func TestFanoutEnqueuesBatchTasksOnce(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ph := phones(5)
	// One group, chunks of 3: chunk 0 holds 3 recipients, chunk 1 two.
	m := g.create(t, "AAAA-00000000-00000031", sms.Marketing, false, 3, store.Audience{Zone: "UTC", SendAt: g.now, Phones: ph})
	f := g.fanout()
	f.Batch = 2
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	want := []string{tasks.FanoutBatchID(m.Code, 0, 0, 0, 2), tasks.FanoutBatchID(m.Code, 0, 0, 1, 2), tasks.FanoutBatchID(m.Code, 0, 1, 0, 2)}
	sort.Strings(want)
	lane := string(sms.Marketing)
	if got := g.taskIDs(t, lane); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lane holds %v, want %v", got, want)
	}
	// Every recipient is in exactly one batch, of the message's lane.
	seen := map[string]int{}
	for _, id := range want {
		ti, err := g.insp.GetTaskInfo(lane, id)
		if err != nil || ti.Type != tasks.TypeSendBatch || ti.MaxRetry != tasks.SendRetryBudget(maxAttempts) || ti.Timeout != sendTimeout {
			t.Fatalf("batch %s: %+v %v", id, ti, err)
		}
		refs, typ, err := tasks.ParseSendBatch(ti.Payload)
		if err != nil || typ != sms.Marketing {
			t.Fatalf("batch %s payload: %v %v", id, typ, err)
		}
		for _, r := range refs {
			seen[r.Phone]++
			if r.App != app || r.ID != storetest.SMSID(t, g.store, m.Code, r.Phone) {
				t.Fatalf("batch %s: ref %+v", id, r)
			}
		}
	}
	for _, p := range ph {
		if seen[p] != 1 {
			t.Fatalf("recipient %s is in %d batches, want 1", p, seen[p])
		}
	}
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if got := g.taskIDs(t, lane); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a re-run the lane holds %v, want %v", got, want)
	}
	// A crash that wrote the records but lost a batch: the re-run makes
	// that batch again, from the same positions.
	lost := tasks.FanoutBatchID(m.Code, 0, 0, 1, 2)
	before, _ := g.insp.GetTaskInfo(lane, lost)
	if err := g.insp.DeleteTask(lane, lost); err != nil {
		t.Fatal(err)
	}
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	after, err := g.insp.GetTaskInfo(lane, lost)
	if err != nil || string(after.Payload) != string(before.Payload) {
		t.Fatalf("repaired batch %v: payload %s, want %s", err, after.Payload, before.Payload)
	}
	if c := g.message(t, m.Code).Counts; c[sms.Queued] != 5 {
		t.Fatalf("counts %v", c)
	}
}
