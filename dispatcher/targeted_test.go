package dispatcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/targeting"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// killSwitch is a redis hook that plays a dispatcher process dying right
// after its k-th committed chunk: once armed and k commits (the
// target_commit script, recognised by its sf:mt: key) have run, every
// later command fails, as if the process were gone.
type killSwitch struct {
	mu      sync.Mutex
	after   int // commits to let through; 0: never kill
	commits int
	dead    bool
}

var errKilled = errors.New("killed")

func (k *killSwitch) arm(after int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.after, k.commits, k.dead = after, 0, false
}

func (k *killSwitch) DialHook(next redis.DialHook) redis.DialHook { return next }

func (k *killSwitch) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		k.mu.Lock()
		dead := k.dead
		k.mu.Unlock()
		if dead {
			cmd.SetErr(errKilled)
			return errKilled
		}
		err := next(ctx, cmd)
		if err == nil && isCommit(cmd) {
			k.mu.Lock()
			k.commits++
			k.dead = k.after > 0 && k.commits >= k.after
			k.mu.Unlock()
		}
		return err
	}
}

func (k *killSwitch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		k.mu.Lock()
		dead := k.dead
		k.mu.Unlock()
		if dead {
			for _, c := range cmds {
				c.SetErr(errKilled)
			}
			return errKilled
		}
		return next(ctx, cmds)
	}
}

func isCommit(cmd redis.Cmder) bool {
	if n := cmd.Name(); n != "evalsha" && n != "eval" {
		return false
	}
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && strings.HasPrefix(s, "sf:mt:") {
			return true
		}
	}
	return false
}

// newKillRig is a rig (its store and inspector see everything) and a
// fan-out on a second client of the same redis-server, which kill can
// cut off mid-dispatch.
func newKillRig(t *testing.T) (*rig, *dispatcher.Fanout, *killSwitch) {
	t.Helper()
	r := testenv.NewRedis(t)
	now := time.Now().Truncate(time.Second)
	g := &rig{now: now, storeNow: func() time.Time { return now }}
	clock := store.WithClock(func() time.Time { return now })
	g.store = store.New(r.Client(t), 24*time.Hour, clock)
	kill := &killSwitch{}
	krdb := r.Client(t)
	krdb.AddHook(kill)
	kst := store.New(krdb, 24*time.Hour, clock)
	for _, st := range []*store.Store{g.store, kst} {
		if err := st.LoadScripts(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	g.insp = asynq.NewInspectorFromRedisClient(r.Client(t))
	g.enq = dispatcher.NewEnqueuer(g.store, asynq.NewClientFromRedisClient(r.Client(t)), maxAttempts, sendTimeout, func() time.Time { return now })
	kenq := dispatcher.NewEnqueuer(kst, asynq.NewClientFromRedisClient(krdb), maxAttempts, sendTimeout, func() time.Time { return now })
	return g, &dispatcher.Fanout{Store: kst, Enqueuer: kenq, Log: zap.NewNop(), Parallel: 3}, kill
}

// sentOnce checks that message code reached exactly want: one record
// each, queued, one send task each and no other, and counts that say so.
func (g *rig) sentOnce(t *testing.T, code string, want []string) {
	t.Helper()
	m := g.message(t, code)
	recs, _, err := g.store.Recipients(context.Background(), m, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.To]++
		if r.Status != sms.Queued {
			t.Fatalf("%s: %s is %s, want queued", code, r.To, r.Status)
		}
	}
	for _, p := range want {
		if got[p] != 1 {
			t.Fatalf("%s: %s listed %d times, want once (%d recipients listed, %d wanted)", code, p, got[p], len(recs), len(want))
		}
	}
	if len(recs) != len(want) || m.Recipients != len(want) || m.Groups[0].Recipients != len(want) {
		t.Fatalf("%s: %d recipients listed, message says %d (group %d), want %d", code, len(recs), m.Recipients, m.Groups[0].Recipients, len(want))
	}
	if c := m.Counts; c[sms.Queued] != int64(len(want)) || c[sms.Scheduled] != 0 || m.Groups[0].Fanout != "done" {
		t.Fatalf("%s: counts %v, fan-out %q, want %d queued", code, c, m.Groups[0].Fanout, len(want))
	}
	tasksOf := g.tasksOf(t, string(sms.Marketing), code)
	if tasksOf != len(want) {
		t.Fatalf("%s: %d send tasks, want %d", code, tasksOf, len(want))
	}
}

// registerTagged registers n devices of app, every third tagged
// City=London, and returns the London ones.
func registerTagged(t *testing.T, st *store.Store, n int) (london []string) {
	t.Helper()
	ctx := context.Background()
	all := make([]string, n)
	for i := range all {
		all[i] = fmt.Sprintf("+4915170%06d", i)
	}
	if err := st.RegisterDevices(ctx, app, all); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 3 {
		if err := st.SetTags(ctx, app, all[i], map[string]json.RawMessage{"City": json.RawMessage(`"London"`)}); err != nil {
			t.Fatal(err)
		}
		london = append(london, all[i])
	}
	return london
}

// createTargeted writes a message targeting City=London, due now, with
// chunks of chunk recipients.
func (g *rig) createTargeted(t *testing.T, code string, chunk int) store.Message {
	t.Helper()
	tg, err := targeting.Parse(json.RawMessage(`[["City","EQ","London"]]`), "", "n")
	if err != nil {
		t.Fatal(err)
	}
	m := store.Message{App: app, Code: code, Type: sms.Marketing, Content: `"hi"`, SendAt: g.now, Timezone: "UTC",
		Validity: time.Hour, ChunkSize: chunk, Conditions: tg.Encode()}
	if _, created, err := g.store.CreateMessage(context.Background(), &m, []store.Audience{{Zone: "UTC", SendAt: g.now}}); err != nil || !created {
		t.Fatalf("create %s: %v %v", code, created, err)
	}
	return m
}

// TestTargetedDispatchKilledBetweenChunksSendsEachOnce: a conditions
// message over three SSCAN pages of devices (chunks of 97, so chunk
// boundaries fall inside pages), its dispatcher killed right after its
// k-th committed chunk for every k, then run again: each London device
// gets exactly one SMS record and one send task, no other device any, and
// the counts say so. A further run changes nothing.
func TestTargetedDispatchKilledBetweenChunksSendsEachOnce(t *testing.T) {
	g, f, kill := newKillRig(t)
	ctx := context.Background()
	london := registerTagged(t, g.store, 2*store.ScanBatch+500) // 834 matches: 9 chunks
	const chunk = 97
	chunks := (len(london) + chunk - 1) / chunk
	for k := 1; k <= chunks; k++ {
		m := g.createTargeted(t, fmt.Sprintf("AAAA-00000000-000002%02d", k), chunk)
		kill.arm(k)
		if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); !errors.Is(err, errKilled) {
			t.Fatalf("kill after chunk %d: %v, want the kill", k, err)
		}
		if got := g.message(t, m.Code); got.Recipients != min(k*chunk, len(london)) {
			t.Fatalf("kill after chunk %d: %d recipients committed, want %d", k, got.Recipients, min(k*chunk, len(london)))
		}
		kill.arm(0)
		if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
			t.Fatalf("re-run after chunk %d: %v", k, err)
		}
		g.sentOnce(t, m.Code, london)
		if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
			t.Fatal(err)
		}
		g.sentOnce(t, m.Code, london)
	}
}

// TestTargetedDispatchSkipsWhatItCommittedBefore: SSCAN may return a
// device twice, and a resumed walk re-reads the page a chunk boundary
// fell in. Here an earlier run committed a chunk of devices the walk
// meets again later (from its start, cursor 0): the walk commits none of
// them twice and every other match once.
func TestTargetedDispatchSkipsWhatItCommittedBefore(t *testing.T) {
	g, f, _ := newKillRig(t)
	ctx := context.Background()
	london := registerTagged(t, g.store, 2*store.ScanBatch+500)
	m := g.createTargeted(t, "AAAA-00000000-00000301", 50)
	early := london[len(london)-50:]
	if err := g.store.CommitTargeted(ctx, m, 0, 0, early, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := g.store.CommitTargeted(ctx, m, 0, 0, london[:50], 0, false); !errors.Is(err, store.ErrTargetCommitted) {
		t.Fatalf("committing chunk 0 twice: %v, want ErrTargetCommitted", err)
	}
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	g.sentOnce(t, m.Code, london)
}

// TestTargetedDispatchSeesDevicesAsTheyAreWhenItRuns: the conditions are
// evaluated when the dispatch runs, not when the message was written: a
// device registered (or tagged London) after the write is targeted, one
// re-tagged away from London or unregistered is not.
func TestTargetedDispatchSeesDevicesAsTheyAreWhenItRuns(t *testing.T) {
	g, f, _ := newKillRig(t)
	ctx := context.Background()
	london := registerTagged(t, g.store, 30)
	m := g.createTargeted(t, "AAAA-00000000-00000302", 4)
	late := "+4915179999999"
	if _, err := g.store.RegisterDevice(ctx, app, store.Device{Phone: late, Tags: map[string]json.RawMessage{"City": json.RawMessage(`"London"`)}}); err != nil {
		t.Fatal(err)
	}
	if err := g.store.SetTags(ctx, app, london[0], map[string]json.RawMessage{"City": json.RawMessage(`"Paris"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.store.UnregisterDevice(ctx, app, london[1]); err != nil {
		t.Fatal(err)
	}
	if err := f.ProcessTask(ctx, tasks.Dispatch(m.Code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	g.sentOnce(t, m.Code, append([]string{late}, london[2:]...))
}

// TestTargetedDispatchOfACanceledMessage: canceled before its dispatch, a
// targeted message (no recipients yet) is still cancelable and sends
// nothing; canceled mid-walk (killed after its first chunk), the re-run
// commits nothing more and leaves the committed chunk canceled.
func TestTargetedDispatchOfACanceledMessage(t *testing.T) {
	g, f, kill := newKillRig(t)
	ctx := context.Background()
	london := registerTagged(t, g.store, 30)
	before := g.createTargeted(t, "AAAA-00000000-00000303", 4)
	if _, err := g.store.CancelMessage(ctx, g.message(t, before.Code)); err != nil {
		t.Fatalf("cancel before the dispatch: %v, want it canceled", err)
	}
	mid := g.createTargeted(t, "AAAA-00000000-00000304", 4)
	kill.arm(1)
	if err := f.ProcessTask(ctx, tasks.Dispatch(mid.Code, 0, 1, 0)); !errors.Is(err, errKilled) {
		t.Fatalf("kill: %v", err)
	}
	kill.arm(0)
	if _, err := g.store.CancelMessage(ctx, g.message(t, mid.Code)); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{before.Code, mid.Code} {
		if err := f.ProcessTask(ctx, tasks.Dispatch(code, 0, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.taskIDs(t, string(sms.Marketing)); len(got) != 0 {
		t.Fatalf("canceled messages enqueued %v", got)
	}
	if m := g.message(t, before.Code); m.Recipients != 0 || m.Counts[sms.Queued] != 0 {
		t.Fatalf("canceled before its dispatch: %d recipients, counts %v", m.Recipients, m.Counts)
	}
	m := g.message(t, mid.Code)
	if m.Recipients != 4 || m.Counts[sms.Canceled] != 4 || m.Counts[sms.Queued] != 0 || m.Counts[sms.Scheduled] != 0 {
		t.Fatalf("canceled mid-walk: %d recipients, counts %v, want the first chunk's 4 canceled of %d matches", m.Recipients, m.Counts, len(london))
	}
}

// tasksOf counts the tasks of message code in queue, in any state, every
// page of them.
func (g *rig) tasksOf(t *testing.T, queue, code string) int {
	t.Helper()
	n := 0
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		g.insp.ListPendingTasks, g.insp.ListScheduledTasks, g.insp.ListActiveTasks, g.insp.ListRetryTasks,
	} {
		for page := 1; ; page++ {
			infos, err := list(queue, asynq.PageSize(1000), asynq.Page(page))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return 0
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range infos {
				if sms.MessageCodeOf(ti.ID) == code {
					n++
				}
			}
			if len(infos) < 1000 {
				break
			}
		}
	}
	return n
}
