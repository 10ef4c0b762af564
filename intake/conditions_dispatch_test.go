package intake

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// dispatchRig is an API and a fan-out on one redis-server, with the
// asynq inspector to see their tasks.
func dispatchRig(t *testing.T) (*API, *dispatcher.Fanout, *asynq.Inspector) {
	t.Helper()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := newAPIWith(st)
	a.Enqueuer = dispatcher.NewEnqueuer(st, asynq.NewClientFromRedisClient(rdb), 3, time.Minute, func() time.Time { return testNow })
	f := &dispatcher.Fanout{Store: st, Enqueuer: a.Enqueuer, Log: zap.NewNop(), Parallel: 2}
	return a, f, asynq.NewInspectorFromRedisClient(rdb)
}

// TestScheduledConditionsTargetTheDevicesOfTheSendTime: a conditions
// message scheduled an hour ahead is stored with no recipients and its
// dispatch task due at the send time; a device registered (tagged London)
// after the request and before the send is targeted, a device re-tagged
// away from London meanwhile is not, and once dispatched getMsgStats'
// results and the native message view count the recipients it reached.
func TestScheduledConditionsTargetTheDevicesOfTheSendTime(t *testing.T) {
	a, f, insp := dispatchRig(t)
	ctx := context.Background()
	london := json.RawMessage(`"London"`)
	for _, ph := range []string{p1, p2, p3} {
		if _, err := a.Store.RegisterDevice(ctx, shop, store.Device{Phone: ph, Tags: map[string]json.RawMessage{"City": london}}); err != nil {
			t.Fatal(err)
		}
	}
	sendAt := testNow.Add(time.Hour).Truncate(time.Minute)
	resp, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[{"send_date":"`+sendAt.Format(sendDateLayout)+
		`","content":"hi","conditions":[["City","EQ","London"]]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	code := resp.(createResponse).Messages[0]
	m, err := a.Store.GetMessage(ctx, shop, code)
	if err != nil || m.Recipients != 0 || len(m.Groups) != 1 || m.Groups[0].Fanout != "" {
		t.Fatalf("stored %+v (%v), want one undispatched group and no recipients yet", m, err)
	}
	ti, err := insp.GetTaskInfo(tasks.DispatchQueue(code, 1), tasks.DispatchID(code, 0))
	if err != nil || ti.State != asynq.TaskStateScheduled { // asynq schedules on its own clock: the state is what can be checked
		t.Fatalf("dispatch task %+v (%v), want it scheduled for %v", ti, err, sendAt)
	}

	// Between the request and the send: one more London device, one gone
	// to Paris.
	late := "+4915112000077"
	if _, err := a.Store.RegisterDevice(ctx, shop, store.Device{Phone: late, Tags: map[string]json.RawMessage{"City": london}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.SetTags(ctx, shop, p3, map[string]json.RawMessage{"City": json.RawMessage(`"Paris"`)}); err != nil {
		t.Fatal(err)
	}
	if err := f.ProcessTask(ctx, tasks.Dispatch(code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}

	m, err = a.Store.GetMessage(ctx, shop, code)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := a.Store.Recipients(ctx, m, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs {
		got[r.To] = true
	}
	if len(recs) != 3 || !got[p1] || !got[p2] || !got[late] {
		t.Fatalf("recipients %v, want %s, %s and the late %s", got, p1, p2, late)
	}
	if v := viewOf(m); v.Recipients != 3 || v.Counts["queued"] != 3 || v.Counts["scheduled"] != 0 {
		t.Fatalf("native view: %d recipients, counts %v, want 3 queued", v.Recipients, v.Counts)
	}
	stats, err := a.getMsgStats(ctx, shop, json.RawMessage(`{"message":"`+code+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.getResults(ctx, shop, json.RawMessage(`{"request_id":"`+stats.(map[string]string)["request_id"]+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	ext := res.(map[string]any)["smsfleet"].(map[string]any)
	if ext["recipients"] != 3 || ext["statuses"].(map[string]int64)[string(sms.Queued)] != 3 {
		t.Fatalf("getResults: %v, want 3 recipients queued", ext)
	}
}
