package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

const (
	app         = "SHOP1-00001"
	maxAttempts = 4
	sendTimeout = 7 * time.Second
)

// rig is a store, an asynq client and an inspector on one fresh
// redis-server, and an Enqueuer whose clock is fixed at now.
type rig struct {
	store *store.Store
	insp  *asynq.Inspector
	enq   *dispatcher.Enqueuer
	now   time.Time
	// storeNow is the store's clock (tests move it back to write "old"
	// messages).
	storeNow func() time.Time
}

func newRig(t *testing.T, opts ...store.Option) *rig {
	t.Helper()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	now := time.Now().Truncate(time.Second)
	g := &rig{now: now, storeNow: func() time.Time { return now }}
	st := store.New(rdb, 24*time.Hour, append([]store.Option{store.WithClock(func() time.Time { return g.storeNow() })}, opts...)...)
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	g.store, g.insp = st, asynq.NewInspectorFromRedisClient(rdb)
	g.enq = dispatcher.NewEnqueuer(st, client, maxAttempts, sendTimeout, func() time.Time { return now })
	return g
}

// create writes a message (direct when it has one audience of one phone
// and direct is set) and returns it as stored.
func (g *rig) create(t *testing.T, code string, typ sms.Type, direct bool, chunk int, auds ...store.Audience) store.Message {
	t.Helper()
	m := store.Message{App: app, Code: code, Type: typ, Content: `"hi"`, SendAt: auds[0].SendAt, Timezone: "UTC",
		Validity: time.Hour, ChunkSize: chunk, Direct: direct}
	if _, created, err := g.store.CreateMessage(context.Background(), &m, auds); err != nil || !created {
		t.Fatalf("create %s: %v %v", code, created, err)
	}
	return m
}

func phones(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+49151120000%02d", i+1)
	}
	return out
}

// inOutbox reports whether code's enqueue is still unconfirmed (in any
// partition's outbox).
func (g *rig) inOutbox(t *testing.T, code string) bool {
	t.Helper()
	for p := range g.store.Partitions() {
		codes, err := g.store.OutboxDue(context.Background(), p, g.now.Add(24*time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			if c == code {
				return true
			}
		}
	}
	return false
}

// taskIDs lists the ids of every task in queue, in any state, sorted.
func (g *rig) taskIDs(t *testing.T, queue string) []string {
	t.Helper()
	var ids []string
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		g.insp.ListPendingTasks, g.insp.ListScheduledTasks, g.insp.ListActiveTasks, g.insp.ListRetryTasks,
	} {
		infos, err := list(queue, asynq.PageSize(1000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range infos {
			ids = append(ids, ti.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func (g *rig) message(t *testing.T, code string) store.Message {
	t.Helper()
	m, err := g.store.GetMessage(context.Background(), "", code)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEnqueueDirect(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	to := "+4915112000001"
	m := g.create(t, "AAAA-00000000-00000001", sms.OTP, true, 10, store.Audience{Zone: "UTC", SendAt: g.now, Phones: []string{to}})
	for range 2 { // twice: the deterministic id makes the second a no-op
		if err := g.enq.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	id := storetest.SMSID(t, g.store, m.Code, to)
	if got := g.taskIDs(t, string(sms.OTP)); len(got) != 1 || got[0] != id {
		t.Fatalf("otp lane holds %v, want just %s", got, id)
	}
	ti, err := g.insp.GetTaskInfo(string(sms.OTP), id)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Type != tasks.TypeSend || tasks.ParseSend(ti.Payload) != (tasks.SendPayload{ID: id, App: m.App, Phone: m.To}) || ti.State != asynq.TaskStatePending ||
		ti.MaxRetry != 2*maxAttempts || ti.Timeout != sendTimeout {
		t.Fatalf("task %+v", ti)
	}
	for _, q := range []string{string(sms.Transactional), string(sms.Marketing), sms.DispatchLane} {
		if got := g.taskIDs(t, q); len(got) != 0 {
			t.Fatalf("queue %s holds %v", q, got)
		}
	}
	// A direct send's outbox entry is the worker's claim to clear.
	if !g.inOutbox(t, m.Code) {
		t.Fatal("direct message left the outbox at enqueue")
	}
}

func TestEnqueueDirectNeedsRecipient(t *testing.T) {
	g := newRig(t)
	err := g.enq.Enqueue(context.Background(), store.Message{Code: "AAAA-00000000-00000002", Type: sms.OTP, Direct: true})
	if err == nil || err.Error() != "direct message without its recipient" {
		t.Fatalf("got %v", err)
	}
}

func TestEnqueueScheduledGroups(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ph := phones(3)
	m := g.create(t, "AAAA-00000000-00000003", sms.Marketing, false, 10,
		store.Audience{Zone: "Europe/Berlin", SendAt: g.now.Add(time.Hour), Phones: ph[:1]},
		store.Audience{Zone: "America/New_York", SendAt: g.now.Add(7 * time.Hour), Phones: ph[1:2]},
		store.Audience{Zone: "Asia/Tokyo", SendAt: g.now.Add(-time.Minute), Phones: ph[2:]}, // due already
	)
	if !g.inOutbox(t, m.Code) {
		t.Fatal("a new message is not in the outbox")
	}
	before := time.Now()
	if err := g.enq.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if err := g.enq.Enqueue(ctx, m); err != nil { // again: harmless
		t.Fatal(err)
	}
	want := []string{tasks.DispatchID(m.Code, 0), tasks.DispatchID(m.Code, 1), tasks.DispatchID(m.Code, 2)}
	if got := g.taskIDs(t, sms.DispatchLane); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dispatch queue holds %v, want %v", got, want)
	}
	// asynq schedules at its own clock plus the delay the Enqueuer read on
	// its injected clock: bracket it by the real time around the call.
	for gi, delay := range []time.Duration{time.Hour, 7 * time.Hour} {
		ti, err := g.insp.GetTaskInfo(sms.DispatchLane, tasks.DispatchID(m.Code, gi))
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := before.Add(delay).Truncate(time.Second), after.Add(delay)
		if ti.Type != tasks.TypeDispatch || string(ti.Payload) != tasks.DispatchID(m.Code, gi) || ti.State != asynq.TaskStateScheduled ||
			ti.NextProcessAt.Before(lo) || ti.NextProcessAt.After(hi) {
			t.Fatalf("group %d: %+v; want scheduled within [%s, %s]", gi, ti, lo, hi)
		}
	}
	if ti, err := g.insp.GetTaskInfo(sms.DispatchLane, tasks.DispatchID(m.Code, 2)); err != nil || ti.State != asynq.TaskStatePending {
		t.Fatalf("a group already due: %+v %v, want pending", ti, err)
	}
	for _, q := range []string{string(sms.OTP), string(sms.Transactional), string(sms.Marketing)} {
		if got := g.taskIDs(t, q); len(got) != 0 {
			t.Fatalf("lane %s holds %v before any fan-out", q, got)
		}
	}
	if g.inOutbox(t, m.Code) {
		t.Fatal("outbox entry not cleared once every group's task exists")
	}
}

// TestSweepOutbox runs in the plain key layout and in the tagged one,
// whose outbox is one per partition (docs/decisions.md#22).
func TestSweepOutbox(t *testing.T) {
	for _, l := range []store.Layout{store.PlainLayout, {Tagged: true, Partitions: 16}} {
		t.Run(l.String(), func(t *testing.T) { sweepOutbox(t, newRig(t, store.WithLayout(l))) })
	}
}

func sweepOutbox(t *testing.T, g *rig) {
	ctx := context.Background()
	log := zap.NewNop()
	// Messages written ten minutes ago (the store's clock) and never
	// enqueued: the intake crashed between the two.
	g.storeNow = func() time.Time { return g.now.Add(-10 * time.Minute) }
	ph := phones(4)
	direct := g.create(t, "AAAA-00000000-00000011", sms.Transactional, true, 10, store.Audience{Zone: "UTC", SendAt: g.now, Phones: ph[:1]})
	sched := g.create(t, "AAAA-00000000-00000012", sms.Marketing, false, 10, store.Audience{Zone: "UTC", SendAt: g.now.Add(time.Hour), Phones: ph[1:3]})
	empty := g.create(t, "AAAA-00000000-00000013", sms.Marketing, false, 10, store.Audience{Zone: "UTC", SendAt: g.now, Phones: nil})
	canceled := g.create(t, "AAAA-00000000-00000014", sms.Marketing, false, 10, store.Audience{Zone: "UTC", SendAt: g.now.Add(time.Hour), Phones: ph[3:]})
	if _, err := g.store.CancelMessage(ctx, canceled); err != nil {
		t.Fatal(err)
	}

	// Within the grace nothing is touched: the intake may still be on it.
	n, err := g.enq.SweepOutbox(ctx, time.Hour, log)
	if err != nil || n != 0 {
		t.Fatalf("sweep within the grace: %d, %v", n, err)
	}
	for _, m := range []store.Message{direct, sched, empty, canceled} {
		if !g.inOutbox(t, m.Code) {
			t.Fatalf("%s left the outbox within the grace", m.Code)
		}
	}
	for _, q := range []string{string(sms.Transactional), sms.DispatchLane} {
		if got := g.taskIDs(t, q); len(got) != 0 {
			t.Fatalf("queue %s holds %v within the grace", q, got)
		}
	}

	// Past the grace, the two with something to send are enqueued and
	// counted; the empty and the canceled one just leave the outbox.
	n, err = g.enq.SweepOutbox(ctx, 5*time.Minute, log)
	if err != nil || n != 2 {
		t.Fatalf("sweep past the grace: %d, %v; want 2", n, err)
	}
	if got := g.taskIDs(t, string(sms.Transactional)); len(got) != 1 || got[0] != storetest.SMSID(t, g.store, direct.Code, ph[0]) {
		t.Fatalf("transactional lane holds %v", got)
	}
	if got := g.taskIDs(t, sms.DispatchLane); len(got) != 1 || got[0] != tasks.DispatchID(sched.Code, 0) {
		t.Fatalf("dispatch queue holds %v", got)
	}
	for _, m := range []store.Message{direct, sched, empty, canceled} {
		if g.inOutbox(t, m.Code) {
			t.Fatalf("%s still in the outbox after the sweep", m.Code)
		}
	}
	// Nothing is left to repair.
	if n, err := g.enq.SweepOutbox(ctx, 0, log); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
}

// fanout is the handler under test, enqueuing with g's Enqueuer.
func (g *rig) fanout() *dispatcher.Fanout {
	return &dispatcher.Fanout{Store: g.store, Enqueuer: g.enq, Log: zap.NewNop(), Parallel: 3}
}

// statuses returns every recipient's status, by phone.
func (g *rig) statuses(t *testing.T, code string) map[string]sms.Status {
	t.Helper()
	m := g.message(t, code)
	recs, _, err := g.store.Recipients(context.Background(), m, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sms.Status{}
	for _, r := range recs {
		out[r.To] = r.Status
	}
	return out
}

func TestFanoutCreatesRecordsAndSends(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ph := phones(7)
	// Two groups, chunks of 2: group 1 has 5 recipients in 3 chunks.
	m := g.create(t, "AAAA-00000000-00000021", sms.Marketing, false, 2,
		store.Audience{Zone: "Europe/Berlin", SendAt: g.now, Phones: ph[:2]},
		store.Audience{Zone: "America/New_York", SendAt: g.now, Phones: ph[2:]})
	f := g.fanout()
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range ph[2:] {
		want = append(want, storetest.SMSID(t, g.store, m.Code, p))
	}
	sort.Strings(want)
	if got := g.taskIDs(t, string(sms.Marketing)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("marketing lane holds %v, want %v", got, want)
	}
	checkFannedOutGroup1(t, g, m, ph, want[0])

	// Running it again (asynq redelivers after a crash) creates and
	// enqueues nothing twice.
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if got := g.taskIDs(t, string(sms.Marketing)); len(got) != 5 {
		t.Fatalf("after a re-run the lane holds %d tasks, want 5", len(got))
	}
	if c := g.message(t, m.Code).Counts; c[sms.Queued] != 5 || c[sms.Scheduled] != 2 {
		t.Fatalf("after a re-run counts %v", c)
	}

	// A crash that wrote a record but lost its task: the re-run enqueues
	// the still-queued SMS again, and only it.
	if err := g.insp.DeleteTask(string(sms.Marketing), want[2]); err != nil {
		t.Fatal(err)
	}
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if got := g.taskIDs(t, string(sms.Marketing)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the repair the lane holds %v, want %v", got, want)
	}
}

// checkFannedOutGroup1 checks m after its group 1 (ph[2:]) was fanned
// out: firstID's send task, the counts and groups' fan-out states, and
// each phone's record (group 0, ph[:2], still scheduled).
func checkFannedOutGroup1(t *testing.T, g *rig, m store.Message, ph []string, firstID string) {
	t.Helper()
	ti, err := g.insp.GetTaskInfo(string(sms.Marketing), firstID)
	if err != nil || ti.Type != tasks.TypeSend || tasks.ParseSend(ti.Payload).ID != firstID || tasks.ParseSend(ti.Payload).App != m.App || ti.MaxRetry != 2*maxAttempts || ti.Timeout != sendTimeout {
		t.Fatalf("send task %+v %v", ti, err)
	}
	after := g.message(t, m.Code)
	if after.Counts[sms.Queued] != 5 || after.Counts[sms.Scheduled] != 2 || after.Groups[1].Fanout != "done" || after.Groups[0].Fanout != "" {
		t.Fatalf("counts %v, groups %+v", after.Counts, after.Groups)
	}
	st := g.statuses(t, m.Code)
	for i, p := range ph {
		want := sms.Queued
		if i < 2 {
			want = sms.Scheduled // group 0 is not fanned out yet
		}
		if st[p] != want {
			t.Fatalf("%s is %s, want %s", p, st[p], want)
		}
	}
}

func TestFanoutCanceledBeforeStart(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ph := phones(3)
	m := g.create(t, "AAAA-00000000-00000031", sms.Transactional, false, 2, store.Audience{Zone: "UTC", SendAt: g.now, Phones: ph})
	if _, err := g.store.CancelMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := g.fanout().ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if got := g.taskIDs(t, string(sms.Transactional)); len(got) != 0 {
		t.Fatalf("a canceled message enqueued %v", got)
	}
	after := g.message(t, m.Code)
	if after.Counts[sms.Canceled] != 3 || after.Counts[sms.Queued] != 0 || after.Groups[0].Fanout != "canceled" {
		t.Fatalf("counts %v groups %+v", after.Counts, after.Groups)
	}
}

func TestFanoutCanceledMidway(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ph := phones(5)
	m := g.create(t, "AAAA-00000000-00000032", sms.Transactional, false, 2, store.Audience{Zone: "UTC", SendAt: g.now, Phones: ph})
	// A fan-out started (and its process died); then the sender canceled.
	if ok, err := g.store.StartFanout(ctx, m.Code, 0); err != nil || !ok {
		t.Fatalf("start: %v %v", ok, err)
	}
	if _, err := g.store.CancelMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	// The redelivered task finds every record canceled and sends nothing.
	if err := g.fanout().ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if got := g.taskIDs(t, string(sms.Transactional)); len(got) != 0 {
		t.Fatalf("a canceled message enqueued %v", got)
	}
	for p, st := range g.statuses(t, m.Code) {
		if st != sms.Canceled {
			t.Fatalf("%s is %s, want canceled", p, st)
		}
	}
	after := g.message(t, m.Code)
	if after.Counts[sms.Canceled] != 5 || after.Counts[sms.Queued] != 0 || after.Counts[sms.Scheduled] != 0 || after.Groups[0].Fanout != "done" {
		t.Fatalf("counts %v groups %+v", after.Counts, after.Groups)
	}
}

func TestFanoutOddTasks(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	f := g.fanout()
	// A payload that is no dispatch id is never retried.
	err := f.ProcessTask(ctx, asynq.NewTask(tasks.TypeDispatch, []byte("garbage")))
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("bad payload: %v, want SkipRetry", err)
	}
	// A message that no longer exists (expired) and a group it never had
	// are done with: nothing to send.
	if err := f.ProcessTask(ctx, tasks.Dispatch("AAAA-00000000-00000099", 0, 1, 0)); err != nil {
		t.Fatalf("missing message: %v", err)
	}
	m := g.create(t, "AAAA-00000000-00000041", sms.Transactional, false, 2, store.Audience{Zone: "UTC", SendAt: g.now, Phones: phones(1)})
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 5, 1, 0)); err != nil {
		t.Fatalf("missing group: %v", err)
	}
	if got := g.taskIDs(t, string(sms.Transactional)); len(got) != 0 {
		t.Fatalf("enqueued %v", got)
	}
}
