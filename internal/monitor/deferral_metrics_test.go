package monitor_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/worker"
)

// TestDeferralIsNotAFailure runs the worker's real asynq server (its
// IsFailure and retry delay) over a redis-server, with one task that
// defers the way the worker does while every provider's breaker is open
// (worker.Deferred) and one that fails. The monitor's metrics count the
// failure and not the deferral, and the deferral uses none of its
// task's retries.
func TestDeferralIsNotAFailure(t *testing.T) {
	srv, rdb, _ := newMonitor(t, basic("pw", true))
	const queue = "transactional"
	ran := make(chan string, 16)
	mux := asynq.NewServeMux()
	mux.HandleFunc("test:defer", func(context.Context, *asynq.Task) error {
		ran <- "defer"
		return &worker.Deferred{Delay: time.Hour, Reason: "every provider of the route is unavailable or throttling"}
	})
	mux.HandleFunc("test:fail", func(context.Context, *asynq.Task) error {
		ran <- "fail"
		return errors.New("provider answered 500")
	})
	// Retries an hour away: each task runs once in this test.
	cfg := config.Worker{TaskCheckInterval: 10 * time.Millisecond, DelayedCheckInterval: time.Hour, RetryBase: time.Hour, RetryMax: time.Hour}
	as := worker.NewServer(rdb, cfg, 2, map[string]int{queue: 1}, time.Second, zap.NewNop())
	if err := as.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(as.Shutdown)

	client := asynq.NewClientFromRedisClient(rdb)
	deferred, err := client.Enqueue(asynq.NewTask("test:defer", nil), asynq.Queue(queue), asynq.MaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(asynq.NewTask("test:fail", nil), asynq.Queue(queue), asynq.MaxRetry(3)); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	// Both ran, and asynq has settled both (moved them to retry).
	for got := map[string]bool{}; len(got) < 2; {
		got[<-ran] = true
	}
	waitFor(t, func() bool {
		info, err := insp.GetQueueInfo(queue)
		return err == nil && info.Retry == 2
	})

	resp, body := do(t, http.MethodGet, srv.URL+"/metrics", creds("admin", "pw"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`asynq_tasks_failed_total{queue="` + queue + `"} 1`,    // the failure only
		`asynq_tasks_processed_total{queue="` + queue + `"} 1`, // a deferral is not processed yet
		`asynq_queue_tasks{queue="` + queue + `",state="retry"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(body, "asynq_"))
		}
	}
	info, err := insp.GetTaskInfo(queue, deferred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Retried != 0 || !strings.HasPrefix(info.LastErr, "deferred ") {
		t.Errorf("deferred task: retried %d, last error %q; want 0 retries used and the deferral's reason", info.Retried, info.LastErr)
	}
}

// waitFor polls cond (a count, not a duration, decides the test; the
// deadline only bounds a hang).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
