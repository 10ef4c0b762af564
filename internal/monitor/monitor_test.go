package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/monitor"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

const (
	phone  = "+447911123456"
	masked = "+4479******56"
	secret = "Your code is 424242"
)

// newMonitor starts a redis-server and a monitor over it, served by an
// httptest server at /monitoring/.
func newMonitor(t *testing.T, c config.Monitor) (*httptest.Server, *redis.Client, *monitor.Monitor) {
	t.Helper()
	rdb := testenv.NewRedis(t).Client(t)
	m, err := monitor.New(context.Background(), monitor.Options{Config: c, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/monitoring/", m.Handler())
	mux.Handle("/metrics", m.MetricsHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rdb, m
}

func basic(password string, readOnly bool) config.Monitor {
	return config.Monitor{Auth: "basic", User: "admin", Password: password, ReadOnly: readOnly}
}

func do(t *testing.T, method, url string, set func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func creds(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func TestCheckConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    config.Monitor
		want string // substring of the error; "" for none
	}{
		{"basic with password", basic("s3cret", true), ""},
		{"basic without password", basic("", true), "SMSFLEET_MONITOR_PASSWORD"},
		{"basic without user", config.Monitor{Auth: "basic", Password: "x"}, "SMSFLEET_MONITOR_USER"},
		{"none needs no password", config.Monitor{Auth: "none"}, ""},
		{"unknown auth", config.Monitor{Auth: "oauth"}, "SMSFLEET_MONITOR_AUTH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := monitor.CheckConfig(tc.c)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("CheckConfig(%+v) = %v, want %q", tc.c, err, tc.want)
			}
		})
	}
	// New refuses what CheckConfig refuses, before touching Redis.
	if _, err := monitor.New(context.Background(), monitor.Options{Config: basic("", true)}); err == nil || !strings.Contains(err.Error(), "SMSFLEET_MONITOR_PASSWORD") {
		t.Fatalf("New with basic auth and no password: %v", err)
	}
}

func TestAuth(t *testing.T) {
	srv, _, _ := newMonitor(t, basic("s3cret", true))
	open, _, _ := newMonitor(t, config.Monitor{Auth: "none", ReadOnly: true})
	for _, tc := range []struct {
		name string
		base string
		set  func(*http.Request)
		want int
	}{
		{"no credentials", srv.URL, nil, http.StatusUnauthorized},
		{"wrong password", srv.URL, creds("admin", "guess"), http.StatusUnauthorized},
		{"wrong user", srv.URL, creds("root", "s3cret"), http.StatusUnauthorized},
		{"password as prefix", srv.URL, creds("admin", "s3cre"), http.StatusUnauthorized},
		{"right credentials", srv.URL, creds("admin", "s3cret"), http.StatusOK},
		{"auth none", open.URL, nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/monitoring/", "/monitoring/api/queues"} {
				resp, body := do(t, http.MethodGet, tc.base+path, tc.set)
				if resp.StatusCode != tc.want {
					t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, tc.want)
				}
				if tc.want == http.StatusUnauthorized {
					if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `Basic realm="smsfleet monitor"`) {
						t.Fatalf("WWW-Authenticate = %q", got)
					}
				}
			}
		})
	}
	// The home page is asynqmon's UI, rooted at /monitoring.
	_, body := do(t, http.MethodGet, srv.URL+"/monitoring/", creds("admin", "s3cret"))
	if !strings.Contains(body, `window.FLAG_ROOT_PATH="\/monitoring"`) || !strings.Contains(body, `window.FLAG_READ_ONLY="true"`) {
		t.Fatalf("index: %s", body)
	}
}

func TestReadOnly(t *testing.T) {
	ro, rdbRO, _ := newMonitor(t, basic("pw", true))
	rw, rdbRW, _ := newMonitor(t, basic("pw", false))
	auth := creds("admin", "pw")
	sameOrigin := func(r *http.Request) { auth(r); r.Header.Set("Sec-Fetch-Site", "same-origin") }
	crossSite := func(r *http.Request) { auth(r); r.Header.Set("Sec-Fetch-Site", "cross-site") }
	for _, tc := range []struct {
		name, method, base, path string
		set                      func(*http.Request)
		want                     int
	}{
		{"read-only GET", http.MethodGet, ro.URL, "/monitoring/api/queues/otp", auth, http.StatusOK},
		{"read-only HEAD", http.MethodHead, ro.URL, "/monitoring/", auth, http.StatusOK},
		{"read-only pause", http.MethodPost, ro.URL, "/monitoring/api/queues/otp:pause", auth, http.StatusForbidden},
		{"read-only run archived", http.MethodPost, ro.URL, "/monitoring/api/queues/otp/archived_tasks:run_all", auth, http.StatusForbidden},
		{"read-only delete archived", http.MethodDelete, ro.URL, "/monitoring/api/queues/otp/archived_tasks:delete_all", auth, http.StatusForbidden},
		{"read-only delete queue", http.MethodDelete, ro.URL, "/monitoring/api/queues/otp", auth, http.StatusForbidden},
		{"read-only PUT outside the API", http.MethodPut, ro.URL, "/monitoring/", auth, http.StatusForbidden},
		{"read-only without credentials is 401 first", http.MethodPost, ro.URL, "/monitoring/api/queues/otp:pause", nil, http.StatusUnauthorized},
		{"read-write cross-site pause", http.MethodPost, rw.URL, "/monitoring/api/queues/otp:pause", crossSite, http.StatusForbidden},
		{"read-write pause", http.MethodPost, rw.URL, "/monitoring/api/queues/otp:pause", sameOrigin, http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, tc.base+tc.path, tc.set)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
			}
		})
	}
	paused := func(rdb *redis.Client) bool {
		q, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo("otp")
		if err != nil {
			t.Fatal(err)
		}
		return q.Paused
	}
	if paused(rdbRO) {
		t.Fatal("the read-only monitor paused otp")
	}
	if !paused(rdbRW) {
		t.Fatal("the read-write monitor did not pause otp")
	}
}

// createDirect writes a direct message to phone, as the intake does, and
// returns its SMS id.
func createDirect(t *testing.T, st *store.Store, code string, typ sms.Type) string {
	t.Helper()
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: typ, Content: `"` + secret + `"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10}
	if _, created, err := st.CreateMessage(context.Background(), m, []store.Audience{{Zone: "UTC", SendAt: time.Now(), Phones: []string{phone}}}); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	return storetest.SMSID(t, st, code, phone)
}

func TestPayloadFormatter(t *testing.T) {
	srv, rdb, _ := newMonitor(t, basic("pw", true))
	st := store.New(rdb, 24*time.Hour)
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := createDirect(t, st, "AAAA-11111111-22222222", sms.OTP)
	bulk := &store.Message{App: "SHOP1-00001", Code: "BBBB-33333333-44444444", Type: sms.Marketing, Content: `"` + secret + `"`, SendAt: time.Now().Add(time.Hour), Validity: time.Hour, ChunkSize: 10}
	berlin := time.Date(2031, 5, 4, 8, 0, 0, 0, time.UTC)
	if _, _, err := st.CreateMessage(context.Background(), bulk, []store.Audience{
		{Zone: "Europe/London", SendAt: berlin.Add(time.Hour), Phones: []string{"+447911000001"}},
		{Zone: "Europe/Berlin", SendAt: berlin, Phones: []string{"+4915112345678", "+4915112345679"}},
	}); err != nil {
		t.Fatal(err)
	}
	f := monitor.NewFormatter(rdb)
	for _, tc := range []struct {
		name, taskType, payload string
		want                    []string
	}{
		{"send", tasks.TypeSend, id, []string{`"sms":"` + id + `"`, `"message":"AAAA-11111111-22222222"`, `"application":"SHOP1-00001"`,
			`"lane":"otp"`, `"to":"` + masked + `"`, `"status":"queued"`, `"attempts":0`}},
		{"send of an expired record", tasks.TypeSend, "CCCC-55555555-66666666.0123456789abcdef", []string{`"message":"CCCC-55555555-66666666"`, `"record":"not found`}},
		{"send with a phone for payload", tasks.TypeSend, phone, []string{masked}},
		{"dispatch", tasks.TypeDispatch, "BBBB-33333333-44444444#1", []string{`"message":"BBBB-33333333-44444444"`, `"group":1`,
			`"zone":"Europe/Berlin"`, `"send_at":"2031-05-04T08:00:00Z"`, `"recipients":2`, `"fanout":"not started"`, `"send_lane":"marketing"`}},
		{"dispatch of a gone message", tasks.TypeDispatch, "DDDD-77777777-88888888#0", []string{`"group":0`, `"record":"not found`}},
		{"another type", "email:send", `{"to":"+447911123456"}`, []string{masked}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.FormatPayload(tc.taskType, []byte(tc.payload))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("payload %s: want %s", got, w)
				}
			}
			for _, never := range []string{phone, "+4915112345678", secret} {
				if strings.Contains(got, never) {
					t.Errorf("payload %s shows %s", got, never)
				}
			}
		})
	}

	// Through the monitor's API, as the UI shows it.
	client := asynq.NewClientFromRedisClient(rdb)
	if err := tasks.Enqueue(client, tasks.Send(id, sms.OTP, 1, 3, time.Minute)); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, http.MethodGet, srv.URL+"/monitoring/api/queues/otp/pending_tasks", creds("admin", "pw"))
	var list struct {
		Tasks []struct{ Payload string } `json:"tasks"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Tasks) != 1 {
		t.Fatalf("pending tasks: %d %s", resp.StatusCode, body)
	}
	if p := list.Tasks[0].Payload; !strings.Contains(p, masked) || strings.Contains(body, phone) || strings.Contains(body, secret) {
		t.Fatalf("pending task payload %s (body %s)", p, body)
	}
}

// TestTaskErrorsMasked: a provider error quoting the number is shown
// masked in the task's last error.
func TestTaskErrorsMasked(t *testing.T) {
	srv, rdb, _ := newMonitor(t, basic("pw", true))
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("sms:probe", []byte("x")), asynq.Queue("otp"), asynq.MaxRetry(0), asynq.TaskID("probe")); err != nil {
		t.Fatal(err)
	}
	worker := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{"otp": 1}, Concurrency: 1, LogLevel: asynq.FatalLevel})
	if err := worker.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		return errors.New("provider: 400 invalid number " + phone)
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(worker.Shutdown)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if q, err := insp.GetQueueInfo("otp"); err == nil && q.Archived == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failing task was not archived")
		}
	}
	for _, path := range []string{"/monitoring/api/queues/otp/archived_tasks", "/monitoring/api/queues/otp/tasks/probe"} {
		resp, body := do(t, http.MethodGet, srv.URL+path, creds("admin", "pw"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "invalid number "+masked) || strings.Contains(body, phone) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestMetrics(t *testing.T) {
	srv, rdb, _ := newMonitor(t, basic("pw", true))
	client := asynq.NewClientFromRedisClient(rdb)
	for _, lane := range sms.Lanes {
		if _, err := client.Enqueue(asynq.NewTask(tasks.TypeSend, []byte("x")), asynq.Queue(lane)); err != nil {
			t.Fatal(err)
		}
	}
	// The metrics endpoint needs the monitor's credentials (issue 13, item
	// 10): Prometheus scrapes it with them.
	for _, set := range []func(*http.Request){nil, creds("admin", "guess")} {
		if resp, body := do(t, http.MethodGet, srv.URL+"/metrics", set); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("metrics without the password: %d %s", resp.StatusCode, body)
		}
	}
	resp, body := do(t, http.MethodGet, srv.URL+"/metrics", creds("admin", "pw"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d %s", resp.StatusCode, body)
	}
	for _, lane := range sms.Lanes {
		for _, want := range []string{
			`asynq_queue_size{queue="` + lane + `"} 1`,
			`asynq_queue_tasks{queue="` + lane + `",state="pending"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	}
	for _, want := range []string{"go_goroutines", "process_resident_memory_bytes", `smsfleet_auth_failures_total{reason="wrong_password",surface="monitor"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestLanesListedBeforeAnyTask: a fresh Redis lists every lane.
func TestLanesListedBeforeAnyTask(t *testing.T) {
	srv, _, _ := newMonitor(t, basic("pw", true))
	_, body := do(t, http.MethodGet, srv.URL+"/monitoring/api/queues", creds("admin", "pw"))
	var v struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	got := map[string]bool{}
	for _, q := range v.Queues {
		got[q.Queue] = true
	}
	for _, lane := range sms.Lanes {
		if !got[lane] {
			t.Errorf("lane %s not listed: %s", lane, body)
		}
	}
}

// TestEveryShardListedBeforeAnyTask: with SMSFLEET_LANE_SHARDS=3 a fresh
// Redis lists each lane's three queues, and the queue metrics cover them.
func TestEveryShardListedBeforeAnyTask(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	m, err := monitor.New(context.Background(), monitor.Options{Config: basic("pw", true), Redis: rdb, Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/monitoring/", m.Handler())
	mux.Handle("/metrics", m.MetricsHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	_, body := do(t, http.MethodGet, srv.URL+"/monitoring/api/queues", creds("admin", "pw"))
	var v struct {
		Queues []struct {
			Queue string `json:"queue"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	got := map[string]bool{}
	for _, q := range v.Queues {
		got[q.Queue] = true
	}
	want := sms.Shards(3).AllQueues()
	if len(got) != len(want) {
		t.Errorf("listed %d queues, want %d: %s", len(got), len(want), body)
	}
	_, metrics := do(t, http.MethodGet, srv.URL+"/metrics", creds("admin", "pw"))
	for _, q := range want {
		if !got[q] {
			t.Errorf("queue %s not listed: %s", q, body)
		}
		if line := `asynq_queue_size{queue="` + q + `"} 0`; !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}
