package dispatcher_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Group commit without a timer: a lone direct send gets its own task at
// once, as without grouping; the sends that arrive while that enqueue is
// in flight go together, in one batch task of their lane, and their
// messages leave the outbox with it, so the sweeper has nothing to repair
// (a single task it made would take the SMS from the batch).
func TestDirectSendsArrivingDuringAnEnqueueGoInOneBatch(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	g.enq.WithBatch(8)
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	dispatcher.SetFlushHook(g.enq, func() {
		if first { // hold the lone request's enqueue in flight
			first = false
			close(entered)
			<-release
		}
	})
	ms := make([]store.Message, 4)
	for i := range ms {
		ms[i] = g.create(t, fmt.Sprintf("AAAA-00000000-0000004%d", i), sms.OTP, true, 10,
			store.Audience{Zone: "UTC", SendAt: g.now, Phones: []string{fmt.Sprintf("+49151120004%02d", i)}})
	}
	errs := make(chan error, len(ms))
	go func() { errs <- g.enq.Enqueue(ctx, ms[0]) }()
	<-entered
	for _, m := range ms[1:] {
		go func() { errs <- g.enq.Enqueue(ctx, m) }()
	}
	for dispatcher.PendingSends(g.enq) != len(ms)-1 {
		time.Sleep(time.Millisecond) // waits for the goroutines to queue up; no threshold
	}
	close(release)
	for range ms {
		if err := <-errs; err != nil {
			t.Fatalf("Enqueue = %v", err)
		}
	}
	id := func(m store.Message) string { return storetest.SMSID(t, g.store, m.Code, m.To) }
	lane := g.taskIDs(t, string(sms.OTP))
	if len(lane) != 2 || lane[0] != id(ms[0]) || !strings.HasPrefix(lane[1], "sb:") {
		t.Fatalf("OTP lane holds %v, want the lone send's own task %s and one batch", lane, id(ms[0]))
	}
	ti, err := g.insp.GetTaskInfo(string(sms.OTP), lane[1])
	if err != nil {
		t.Fatal(err)
	}
	refs, typ, err := tasks.ParseSendBatch(ti.Payload)
	if err != nil || typ != sms.OTP || len(refs) != 3 || lane[1] != tasks.IntakeBatchID(refs[0].ID) {
		t.Fatalf("batch %s, %v %s: %+v", lane[1], err, typ, refs)
	}
	want := map[tasks.SendPayload]bool{}
	for _, m := range ms[1:] {
		want[tasks.SendPayload{ID: id(m), App: app, Phone: m.To}] = true
	}
	for _, r := range refs {
		if !want[r] {
			t.Fatalf("batch ref %+v is none of the grouped sends", r)
		}
		delete(want, r)
	}
	// The batch's messages left the outbox; the lone send's stays until
	// its worker loads it (it saves that request a round trip).
	for i, m := range ms {
		if in := g.inOutbox(t, m.Code); in != (i == 0) {
			t.Fatalf("message %d in the outbox: %v", i, in)
		}
	}
	// The sweeper finds the lone send's task and makes none for the batch's.
	if n, err := g.enq.SweepOutbox(ctx, -time.Hour, zap.NewNop()); err != nil || n != 0 {
		t.Fatalf("sweep repaired %d (%v), want 0", n, err)
	}
	if got := g.taskIDs(t, string(sms.OTP)); fmt.Sprint(got) != fmt.Sprint(lane) {
		t.Fatalf("after a sweep the OTP lane holds %v, want %v", got, lane)
	}
}
