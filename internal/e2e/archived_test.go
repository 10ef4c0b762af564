package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// An SMS every provider rejects for good is failed in the API and its task
// is in its lane's archived list, where on-call look (issue 19): with the
// error, a masked phone and no text in the monitor's view, not retried,
// sent once, and counted once. One SMS goes on its own (a direct task),
// two go through a fan-out (a batch task and its follow-ups).
func TestFailedForGoodIsArchivedForOnCall(t *testing.T) {
	e := harness.New(t)
	// The simulator rejects every number ending in 0001 (Twilio 21211),
	// at every provider of the route.
	single, many := "+4915112360001", []string{"+4915112370001", "+4915112380001"}
	e.Register(harness.ShopApp, harness.ShopToken, append([]string{single}, many...)...)
	before := failedOutcomes(t)
	const text = "Secret text 4711"
	codes := map[string]string{
		single: e.Send(map[string]any{"send_date": "now", "content": text, "devices": []string{single}}),
	}
	code := e.Send(map[string]any{"send_date": "now", "content": text, "devices": many})
	for _, p := range many {
		codes[p] = code
	}
	e.WaitCounts(codes[single], map[string]int64{"failed": 1}, 20*time.Second)
	e.WaitCounts(code, map[string]int64{"failed": 2}, 20*time.Second)

	insp := asynq.NewInspectorFromRedisClient(e.Client)
	mon := newMonitorServer(t, e)
	for phone, code := range codes {
		id := harness.SMSID(t, e.Fleet.Store(), code, phone)
		q := e.Config.LaneShards().Queue(sms.Transactional.Lane(), id)
		var ti *asynq.TaskInfo
		harness.Eventually(t, 20*time.Second, func() bool {
			ti, _ = insp.GetTaskInfo(q, id)
			return ti != nil && ti.State == asynq.TaskStateArchived
		}, func() string { return "SMS " + id + " not archived in " + q + ": " + describe(ti) })
		if ti.Retried != 0 || !strings.Contains(ti.LastErr, "failed for good") || !strings.Contains(ti.LastErr, "21211") || strings.Contains(ti.LastErr, phone) {
			t.Errorf("archived task %s: retried %d, last error %q; want no retry, the provider's error, no phone", id, ti.Retried, ti.LastErr)
		}
		checkOnCallView(t, mon, q, id, phone, text)
		v := e.Message(code)
		for _, r := range v.Recipients {
			if r.To == phone && (r.Status != "failed" || r.Attempts != 1 || len(r.History) != 1 || r.History[0].Outcome != "permanent") {
				t.Errorf("recipient %+v: want failed after one permanent rejection", r)
			}
		}
	}
	// Each failure is one outcome, whatever asynq does with the tasks.
	harness.Eventually(t, 20*time.Second, func() bool { return failedOutcomes(t)-before >= 3 },
		func() string { return "failed outcomes counted: " + ftoa(failedOutcomes(t)-before) + ", want 3" })
	if n := failedOutcomes(t) - before; n != 3 {
		t.Fatalf("failed outcomes counted %v times for 3 SMS", n)
	}
}

// newMonitorServer serves the Asynq web monitor over e's Redis as the
// monitor role does.
func newMonitorServer(t *testing.T, e *harness.Env) *httptest.Server {
	t.Helper()
	m, err := monitor.New(context.Background(), monitor.Options{
		Config: config.Monitor{Auth: "basic", User: "admin", Password: "pw", ReadOnly: true}, Redis: e.Client, Shards: e.Config.LaneShards(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/monitoring/", m.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// checkOnCallView reads the archived list of queue q in the monitor and
// checks SMS id is in it with its masked phone, status and error, and
// neither its full phone nor its text.
func checkOnCallView(t *testing.T, mon *httptest.Server, q, id, phone, text string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, mon.URL+"/monitoring/api/queues/"+q+"/archived_tasks?page_size=100", nil)
	req.SetBasicAuth("admin", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list struct {
		Tasks []struct {
			ID, Payload string
			Error       string `json:"error_message"`
		} `json:"tasks"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("archived tasks of %s: %d %s", q, resp.StatusCode, body)
	}
	if strings.Contains(string(body), phone) || strings.Contains(string(body), text) {
		t.Fatalf("the monitor's archived list shows a full phone number or the text: %s", body)
	}
	for _, tk := range list.Tasks {
		if tk.ID != id {
			continue
		}
		var v monitor.SendView
		if err := json.Unmarshal([]byte(tk.Payload), &v); err != nil || v.To != sms.MaskPhone(phone) || v.Status != "failed" || !strings.Contains(v.LastError, "21211") {
			t.Fatalf("archived task %s shown as %s (%v): want the masked phone, failed, the provider's error", id, tk.Payload, err)
		}
		if !strings.Contains(tk.Error, "failed for good") {
			t.Fatalf("archived task %s error %q", id, tk.Error)
		}
		return
	}
	t.Fatalf("SMS %s is not in the monitor's archived list of %s: %s", id, q, body)
}

// failedOutcomes sums the fleet's SMS counters (smsfleet_sms*_total) for
// status "failed".
func failedOutcomes(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "smsfleet_sms") || !strings.HasSuffix(mf.GetName(), "_total") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && l.GetValue() == "failed" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func describe(ti *asynq.TaskInfo) string {
	if ti == nil {
		return "no task"
	}
	return "state " + ti.State.String() + ", last error " + ti.LastErr
}

func ftoa(f float64) string { b, _ := json.Marshal(f); return string(b) }
