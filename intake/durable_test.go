package intake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// enqueueAPI is the test API with a real enqueuer on asynq; it returns
// the asynq inspector too. opts configure the store.
func enqueueAPI(t *testing.T, opts ...store.Option) (*API, *asynq.Inspector) {
	t.Helper()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour, append([]store.Option{store.WithClock(func() time.Time { return testNow })}, opts...)...)
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = q.Close() })
	a := newAPIWith(st)
	a.Enqueuer = dispatcher.NewEnqueuer(st, q, 4, 10*time.Second, func() time.Time { return testNow })
	return a, asynq.NewInspectorFromRedisClient(rdb)
}

// TestTransactionReplayEnqueuesWhatTheCrashedRequestDidNot (issue 12,
// item 10): the first request stored the message and died before its
// enqueue; the client's retry with the same transactionId answers the same
// code and enqueues the send then, not at the next outbox sweep.
func TestTransactionReplayEnqueuesWhatTheCrashedRequestDidNot(t *testing.T) {
	a, insp := enqueueAPI(t)
	ctx := context.Background()
	n := `{"send_date":"now","content":"code 1234","devices":["+4915112000001"],"use_auto_registration":true,"transactionId":"t-crash"}`
	// The crashed request: planned and written, never enqueued.
	p, err := planOf(t, a, shop, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.RegisterDevices(ctx, shop, p.register); err != nil {
		t.Fatal(err)
	}
	p.msg.Code = "CRSH-00000000-00000001"
	code, created, err := a.Store.CreateMessage(ctx, &p.msg, p.audiences)
	if err != nil || !created || !p.msg.Direct {
		t.Fatalf("first write: %s %v %v direct=%v", code, created, err, p.msg.Direct)
	}
	id := storetest.SMSID(t, a.Store, code, p.msg.To)
	if _, err := insp.GetTaskInfo(p.msg.Type.Lane(), id); !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatalf("a task exists before the replay: %v", err)
	}
	resp, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[`+n+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.(createResponse).Messages; len(got) != 1 || got[0] != code {
		t.Fatalf("replay answered %v, want [%s]", got, code)
	}
	if _, err := insp.GetTaskInfo(p.msg.Type.Lane(), id); err != nil {
		t.Fatalf("the replay did not enqueue the send: %v", err)
	}
	// A second replay finds the task there and creates nothing new.
	if _, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[`+n+`]}`)); err != nil {
		t.Fatal(err)
	}
	if qi, err := insp.GetQueueInfo(p.msg.Type.Lane()); err != nil || qi.Size != 1 {
		t.Fatalf("queue after two replays: %+v %v, want one task", qi, err)
	}
}

// TestTransactionReplayEnqueuesAScheduledMessage: the same for a message
// fanned out later (its dispatch task), whose outbox entry the enqueue
// clears.
func TestTransactionReplayEnqueuesAScheduledMessage(t *testing.T) {
	a, insp := enqueueAPI(t)
	ctx := context.Background()
	n := `{"send_date":"now","content":"news","devices":["+4915112000001","+4915112000002"],"use_auto_registration":true,"transactionId":"t-two"}`
	p, err := planOf(t, a, shop, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.RegisterDevices(ctx, shop, p.register); err != nil {
		t.Fatal(err)
	}
	p.msg.Code = "CRSH-00000000-00000002"
	if _, _, err := a.Store.CreateMessage(ctx, &p.msg, p.audiences); err != nil {
		t.Fatal(err)
	}
	if _, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[`+n+`]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := insp.GetTaskInfo(sms.DispatchLane, "CRSH-00000000-00000002#0"); err != nil {
		t.Fatalf("the replay did not enqueue the dispatch: %v", err)
	}
	if due, err := a.Store.OutboxDue(ctx, 0, testNow.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("outbox after the replay: %v %v, want empty", due, err)
	}
}

// TestCreateMessageAnswers503WhenNoReplicaAcknowledges (issue 12, item
// 4): with SMSFLEET_REDIS_WAIT_REPLICAS=1 and no replica, the write is not
// durable: 503, saying why, with a Retry-After; nothing is enqueued.
func TestCreateMessageAnswers503WhenNoReplicaAcknowledges(t *testing.T) {
	a, insp := enqueueAPI(t, store.WithReplicas(1, 50*time.Millisecond))
	ctx := context.Background()
	_, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[{"send_date":"now","content":"x","devices":["+4915112000001"],"use_auto_registration":true,"transactionId":"t-503"}]}`))
	var ae *apiError
	if !errors.As(err, &ae) || ae.HTTP != http.StatusServiceUnavailable || !strings.Contains(ae.Message, "0 of 1 Redis replicas acknowledged") {
		t.Fatalf("error %v, want a 503 naming the replicas", err)
	}
	rec := httptest.NewRecorder()
	a.writeErr(rec, httptest.NewRequest(http.MethodPost, "/json/1.3/createMessage", nil), err)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("answered %d with Retry-After %q, want 503 with a Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if qs, _ := insp.Queues(); len(qs) != 0 {
		t.Fatalf("queues %v: a message that is not durable was enqueued", qs)
	}
}

// TestRegisterDeviceAnswers503WhenNoReplicaAcknowledges: a device write
// that no replica acknowledged is a 503 with Retry-After too, not a 500.
func TestRegisterDeviceAnswers503WhenNoReplicaAcknowledges(t *testing.T) {
	a, _ := enqueueAPI(t, store.WithReplicas(1, 50*time.Millisecond))
	_, err := a.registerDevice(context.Background(), shop, json.RawMessage(`{"hwid":"+4915112000002","device_type":18}`))
	rec := httptest.NewRecorder()
	a.writeErr(rec, httptest.NewRequest(http.MethodPost, "/json/1.3/registerDevice", nil), err)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "0 of 1 Redis replicas acknowledged") {
		t.Fatalf("answered %d %q with Retry-After %q, want 503 naming the replicas", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
}
