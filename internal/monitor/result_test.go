package monitor_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// TestCompletedCallbackResultReadable: a completed status-callback task
// (which writes no result) is listed with a readable result, not asynqmon's
// "non-printable bytes" (issue 19).
func TestCompletedCallbackResultReadable(t *testing.T) {
	srv, rdb, _ := newMonitor(t, basic("pw", true))
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(tasks.Callback("X.0123456789abcdef:delivered", []byte(`{"url":"http://127.0.0.1:9/","app":"A","body":{}}`), 1, time.Second)); err != nil {
		t.Fatal(err)
	}
	worker := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{tasks.CallbackQueue: 1}, Concurrency: 1, LogLevel: asynq.FatalLevel})
	if err := worker.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(worker.Shutdown)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if q, err := insp.GetQueueInfo(tasks.CallbackQueue); err == nil && q.Completed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the callback task did not complete")
		}
	}
	resp, body := do(t, http.MethodGet, srv.URL+"/monitoring/api/queues/"+tasks.CallbackQueue+"/completed_tasks", creds("admin", "pw"))
	var list struct {
		Tasks []struct {
			Result string `json:"result"`
		} `json:"tasks"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Tasks) != 1 {
		t.Fatalf("completed tasks: %d %s", resp.StatusCode, body)
	}
	if got := list.Tasks[0].Result; got != monitor.NoResult {
		t.Fatalf("result shown as %q, want %q", got, monitor.NoResult)
	}
}
