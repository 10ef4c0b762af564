package dispatcher_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// makeLegacy turns code into a message as the code before keyed SMS ids
// wrote it: no id scheme recorded (the field "ids" of sf:m:<code>).
func (g *rig) makeLegacy(t *testing.T, code string) {
	t.Helper()
	if err := g.store.Redis().HDel(context.Background(), "sf:m:"+code, "ids").Err(); err != nil {
		t.Fatal(err)
	}
}

func legacyIDs(code string, phones ...string) []string {
	out := make([]string, len(phones))
	for i, p := range phones {
		out[i], _ = (sms.IDs{}).ID(code, p, sms.LegacyIDs)
	}
	sort.Strings(out)
	return out
}

// TestALegacyMessageKeepsItsIDsThroughFanout: a message accepted before
// the upgrade was mid fan-out (its first SMS has a record and a task under
// its legacy id) when the worker was replaced. The new worker's re-run
// must enqueue the rest under legacy ids too: a keyed id would be a new
// task id for the first SMS, sent a second time.
func TestALegacyMessageKeepsItsIDsThroughFanout(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ph := phones(3)
	m := g.create(t, "LGCY-00000000-00000001", sms.Marketing, false, 2, store.Audience{Zone: "UTC", SendAt: g.now, Phones: ph})
	g.makeLegacy(t, m.Code)
	old := g.message(t, m.Code)
	if _, err := g.store.StartFanout(ctx, m.Code, 0); err != nil {
		t.Fatal(err)
	}
	ids, _, err := g.store.Materialize(ctx, old, ph[:1], g.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := tasks.Enqueue(asynq.NewClientFromRedisClient(g.store.Redis()), g.enq.SendTask(tasks.SendPayload{ID: ids[0], App: app, Phone: ph[0]}, sms.Marketing)); err != nil {
		t.Fatal(err)
	}
	if err := g.fanout().ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	want := legacyIDs(m.Code, ph...)
	if got := g.taskIDs(t, string(sms.Marketing)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("marketing lane holds %v, want the legacy ids %v (one task per SMS)", got, want)
	}
	if c := g.message(t, m.Code).Counts; c[sms.Queued] != 3 || c[sms.Scheduled] != 0 {
		t.Fatalf("counts %v, want 3 queued", c)
	}
}

// TestALegacyDirectMessageInTheOutboxKeepsItsID: a direct send accepted
// before the upgrade whose enqueue was never confirmed is enqueued by the
// new worker's outbox sweep under its legacy id, the id of its record.
func TestALegacyDirectMessageInTheOutboxKeepsItsID(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	to := "+4915112000001"
	g.storeNow = func() time.Time { return g.now.Add(-time.Hour) } // written an hour ago
	m := g.create(t, "LGCY-00000000-00000002", sms.Transactional, true, 10, store.Audience{Zone: "UTC", SendAt: g.now, Phones: []string{to}})
	// The old intake wrote the record under the legacy id.
	rdb := g.store.Redis()
	keyed := storetest.SMSID(t, g.store, m.Code, to)
	legacy := legacyIDs(m.Code, to)[0]
	if err := rdb.Rename(ctx, "sf:s:"+keyed, "sf:s:"+legacy).Err(); err != nil {
		t.Fatal(err)
	}
	g.makeLegacy(t, m.Code)
	if n, err := g.enq.SweepOutbox(ctx, time.Minute, zap.NewNop()); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if got := g.taskIDs(t, string(sms.Transactional)); len(got) != 1 || got[0] != legacy {
		t.Fatalf("transactional lane holds %v, want the legacy id %s", got, legacy)
	}
	if rec, err := g.store.GetSMS(ctx, legacy); err != nil || rec.Status != sms.Queued {
		t.Fatalf("record under the legacy id: %+v %v", rec, err)
	}
}
