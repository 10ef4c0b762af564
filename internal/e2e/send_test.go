package e2e_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

func TestSendNowReachesProviderAndIsSent(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(123, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	code := e.Send(map[string]any{"send_date": "now", "content": "Your code is 4711", "devices": []string{to}, "message_type": "otp"})

	v := e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
	if v.Message.Type != "otp" || v.Message.Recipients != 1 {
		t.Fatalf("message view %+v", v.Message)
	}
	r := v.Recipients[0]
	if r.To != to || r.Status != "sent" || r.Provider != "simulator" || r.ProviderRef == "" || r.Segments != 1 || r.Encoding != "gsm7" || r.ID != harness.SMSID(t, e.Fleet.Store(), code, to) {
		t.Fatalf("recipient %+v", r)
	}
	got := e.Sim.Messages(to, 10)
	if len(got) != 1 || got[0].Text != "Your code is 4711" || got[0].Ref != r.ProviderRef || got[0].ID != r.ID {
		t.Fatalf("simulator got %+v, want one SMS with ref %s", got, r.ProviderRef)
	}
}

func TestSimulatorTestNumbers(t *testing.T) {
	e := harness.New(t)
	ok, rejected, flaky := "+4915112340002", "+4915112340001", "+4915112340004"
	e.Register(harness.ShopApp, harness.ShopToken, ok, rejected, flaky)
	code := e.Send(map[string]any{"send_date": "now", "content": "Hi", "devices": []string{ok, rejected, flaky}})

	v := e.WaitCounts(code, map[string]int64{"sent": 2, "failed": 1}, 10*time.Second)
	byTo := map[string]harness.RecipientView{}
	for _, r := range v.Recipients {
		byTo[r.To] = r
	}
	if r := byTo[rejected]; r.Status != "failed" || !strings.Contains(r.Error, "21211") || r.Attempts != 1 {
		t.Errorf("0001 number: %+v, want failed with the provider's error after one attempt", r)
	}
	if r := byTo[flaky]; r.Status != "sent" || r.Attempts != 2 {
		t.Errorf("0004 number: %+v, want sent on the second attempt", r)
	}
	if n := len(e.Sim.Messages(flaky, 10)); n != 1 {
		t.Errorf("0004 number reached the simulator %d times, want 1", n)
	}
}

func TestScheduledMessageGoesOutAtItsMinute(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(200, 3)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	// Stand two seconds before the next minute on the intake's clock, in
	// Berlin time, and schedule for that minute.
	berlin, _ := time.LoadLocation("Europe/Berlin")
	minute := time.Now().In(berlin).Truncate(time.Minute).Add(time.Minute)
	e.Clock.Set(minute.Add(-2 * time.Second))
	code := e.Send(map[string]any{"send_date": minute.Format("2006-01-02 15:04"), "timezone": "Europe/Berlin", "content": "Sale starts now", "devices": to})

	v := e.Message(code)
	if v.Message.Counts["scheduled"] != 3 || len(e.Sim.Messages("", 10)) != 0 {
		t.Fatalf("right after the request: counts %v, %d sent; want 3 scheduled, none sent", harness.NonZero(v.Message.Counts), e.Sim.Count())
	}
	for _, r := range v.Recipients {
		if r.Status != "scheduled" {
			t.Fatalf("recipient %+v, want scheduled", r)
		}
	}
	start := time.Now()
	e.WaitCounts(code, map[string]int64{"sent": 3}, 10*time.Second)
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("sent after %s, before its minute (2 s ahead)", waited)
	}
}

func TestCancelScheduledMessage(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(300, 5)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	at := time.Now().UTC().Add(2 * time.Hour).Format("2006-01-02 15:04")
	code := e.Send(map[string]any{"send_date": at, "content": "later", "devices": to})

	e.MustOK("deleteMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code})
	v := e.WaitCounts(code, map[string]int64{"canceled": 5}, time.Second)
	if !v.Message.Canceled {
		t.Fatalf("message not marked canceled: %+v", v.Message)
	}
	for _, r := range v.Recipients {
		if r.Status != "canceled" {
			t.Fatalf("recipient %+v, want canceled", r)
		}
	}
	insp := asynq.NewInspectorFromRedisClient(e.Client)
	if _, err := insp.GetTaskInfo(sms.DispatchLane, tasks.DispatchID(code, 0)); err == nil {
		t.Fatalf("the dispatch task of a canceled message is still scheduled")
	}
	// Cancelling twice: nothing is left pending.
	r := e.Call("deleteMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code}, "")
	if r.StatusCode != 210 || !strings.HasPrefix(r.StatusMessage, "message:") {
		t.Fatalf("second cancel: %d %q", r.StatusCode, r.StatusMessage)
	}
	// Even if the dispatch task ran (a race with the cancel), nothing goes out.
	if err := tasks.Enqueue(asynq.NewClientFromRedisClient(e.Client), tasks.Dispatch(code, 0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	// Wait for that task to have run (asynq keeps no finished task).
	harness.Eventually(t, 5*time.Second, func() bool {
		_, err := insp.GetTaskInfo(sms.DispatchLane, tasks.DispatchID(code, 0))
		return err != nil
	}, func() string { return "the dispatch task of the canceled message did not run" })
	e.WaitCounts(code, map[string]int64{"canceled": 5}, time.Second)
	if n := e.Sim.Count(); n != 0 {
		t.Fatalf("%d SMS of a canceled message reached the provider", n)
	}
}

func TestCancelAfterFanoutCancelsOnlyPendingSMS(t *testing.T) {
	// The fleet here has no worker: the fan-out runs by hand, so the SMS
	// stay queued and the cancel meets materialized records.
	e := harness.New(t, func(_ *config.Config, r *fleet.Roles) { r.Worker = false })
	to := harness.Phones(400, 4)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": to})
	harness.RunDispatch(t, e, code)
	e.WaitCounts(code, map[string]int64{"queued": 4}, time.Second)
	// One SMS is already with a provider (sending): it must not be canceled.
	st := e.Fleet.Store()
	harness.Claim(t, st, harness.SMSID(t, st, code, to[0]))
	e.MustOK("deleteMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code})
	e.WaitCounts(code, map[string]int64{"sending": 1, "canceled": 3}, time.Second)
}

func TestFanoutOf10000(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 sends")
	}
	e := harness.New(t)
	to := harness.Phones(10000, 10000) // includes one ...0001 (rejected) and one ...0004 (retried)
	if err := e.Fleet.Store().RegisterDevices(context.Background(), harness.ShopApp, to); err != nil {
		t.Fatal(err)
	}
	code := e.Send(map[string]any{"send_date": "now", "content": "Your parcel ships today", "devices": to})
	e.WaitCounts(code, map[string]int64{"sent": 9999, "failed": 1}, 90*time.Second)
	if n := e.Sim.Count(); n != 9999 {
		t.Fatalf("simulator accepted %d SMS, want 9999 (no duplicates)", n)
	}
	seen := map[string]bool{}
	for _, m := range e.Sim.Messages("", 20000) {
		if seen[m.To] {
			t.Fatalf("%s got two SMS", m.To)
		}
		seen[m.To] = true
	}
	// Paginating the recipients walks all of them exactly once.
	cursor, total := "", 0
	for {
		var v harness.MessageView
		e.Native("/api/v1/messages/"+code+"?limit=1000&cursor="+cursor, harness.ShopToken, &v)
		total += len(v.Recipients)
		if v.NextCursor == "" {
			break
		}
		cursor = v.NextCursor
	}
	if total != 10000 {
		t.Fatalf("paginated %d recipients, want 10000", total)
	}
}

func TestTransactionIDIsIdempotent(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(500, 2)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	n := map[string]any{"send_date": "now", "content": "once", "devices": to, "transactionId": "order-42-shipped"}
	first := e.Send(n)
	e.WaitCounts(first, map[string]int64{"sent": 2}, 5*time.Second)
	second := e.Send(n)
	if second != first {
		t.Fatalf("retry with the same transactionId got %s, want %s", second, first)
	}
	time.Sleep(300 * time.Millisecond)
	if c := e.Sim.Count(); c != 2 {
		t.Fatalf("provider got %d SMS, want 2", c)
	}
	var list struct{ Messages []json.RawMessage }
	e.Native("/api/v1/messages", harness.ShopToken, &list)
	if len(list.Messages) != 1 {
		t.Fatalf("%d messages stored, want 1", len(list.Messages))
	}
	// The same id in another application is another message.
	e.Register(harness.BankApp, harness.BankToken, to[0])
	raw := e.MustOK("createMessage", map[string]any{"application": harness.BankApp, "auth": harness.BankToken, "notifications": []any{n}})
	if strings.Contains(string(raw), first) {
		t.Fatalf("bank's transaction reused shop's message: %s", raw)
	}
}

func TestDispatchRunTwiceSendsOnce(t *testing.T) {
	e := harness.New(t, func(_ *config.Config, r *fleet.Roles) { r.Worker = false })
	to := harness.Phones(600, 50)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": to})
	// A crash half way: the first run is stopped after its first records,
	// then the task runs again in full, twice.
	st := e.Fleet.Store()
	if _, err := st.StartFanout(context.Background(), code, 0); err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMessage(context.Background(), "", code)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Materialize(context.Background(), m, to[:20], time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	harness.RunDispatch(t, e, code)
	harness.RunDispatch(t, e, code)
	e.WaitCounts(code, map[string]int64{"queued": 50}, time.Second)
	insp := asynq.NewInspectorFromRedisClient(e.Client)
	pending, err := insp.ListPendingTasks("transactional", asynq.PageSize(1000))
	if err != nil || len(pending) != 50 {
		t.Fatalf("%d send tasks pending (%v), want 50", len(pending), err)
	}
	// Now let a worker run them: 50 SMS, each once.
	harness.StartWorker(t, e)
	e.WaitCounts(code, map[string]int64{"sent": 50}, 10*time.Second)
	if c := e.Sim.Count(); c != 50 {
		t.Fatalf("provider got %d SMS, want 50", c)
	}
}

func TestStatsFollowPushwooshShape(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(700, 3)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": to})
	e.WaitCounts(code, map[string]int64{"sent": 3}, 5*time.Second)
	raw := e.MustOK("getMsgStats", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code})
	var req struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(raw, &req); err != nil || req.RequestID == "" {
		t.Fatalf("getMsgStats: %s", raw)
	}
	raw = e.MustOK("getResults", map[string]any{"auth": harness.ShopToken, "request_id": req.RequestID})
	var res struct {
		Formatter string
		Rows      []struct {
			Datetime, Action string
			Count            int64 `json:"count,string"` // a string, as Pushwoosh sends it
		}
		Smsfleet struct{ Statuses map[string]int64 }
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	var sent int64
	for _, r := range res.Rows {
		if _, err := time.Parse("2006-01-02 15:04:05", r.Datetime); err != nil {
			t.Fatalf("row datetime %q", r.Datetime)
		}
		if r.Action == "send" {
			sent += r.Count
		}
	}
	if res.Formatter != "hourly" || sent != 3 || res.Smsfleet.Statuses["sent"] != 3 {
		t.Fatalf("getResults: %s", raw)
	}
}

func TestOutboxRepairsAnEnqueueLostInACrash(t *testing.T) {
	e := harness.New(t, func(_ *config.Config, r *fleet.Roles) { r.Worker = false })
	rdb := e.Plain() // writes the plain layout's outbox by name
	to := harness.Phones(800, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	code := e.Send(map[string]any{"send_date": "now", "content": "x", "devices": []string{to}})
	// Simulate the crash: the task never made it, the outbox entry stayed.
	insp := asynq.NewInspectorFromRedisClient(e.Client)
	if err := insp.DeleteTask("transactional", harness.SMSID(t, e.Fleet.Store(), code, to)); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(context.Background(), "sf:outbox", redis.Z{Score: 0, Member: code}).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := e.Fleet.Enqueuer().SweepOutbox(context.Background(), 0, zap.NewNop())
	if err != nil || n != 1 {
		t.Fatalf("sweep repaired %d (%v), want 1", n, err)
	}
	harness.StartWorker(t, e)
	e.WaitCounts(code, map[string]int64{"sent": 1}, 5*time.Second)
}
