package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// chromium returns the headless browser the UI tests drive: Debian's
// chromium (apt-get install -y chromium). Without it the test is skipped,
// except in CI (CI is set), which installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; CI must install it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium): skipping the monitor's browser test")
	return ""
}

// TestMonitorInBrowser opens the Asynq web monitor of `smsfleet dev` in
// headless Chromium, logged in with basic auth, waits until the dashboard
// lists the four lanes and saves a full-page screenshot (to
// SMSFLEET_SCREENSHOT_DIR when set). A wrong password gets 401, over plain
// HTTP and in the browser.
func TestMonitorInBrowser(t *testing.T) {
	chrome := chromium(t)
	base := startDev(t)

	// Plain HTTP first: the monitor is guarded and read-only.
	checkMonitorGuarded(t, base)

	// One SMS through the dev API, as the README's first curl does.
	code := createOneSMS(t, base)
	waitSent(t, base, code)
	// And one the simulator rejects for good (…0001): on-call find it in
	// its lane's archived tasks (issue 19).
	waitStatus(t, base, createSMSTo(t, base, failingPhone), "failed")
	// And one with a status callback, so the callbacks queue is listed
	// too, as on a live fleet (five queues).
	sendWithCallback(t, base)

	// The asynq queue metrics of dev, at /monitoring/metrics.
	checkMonitorMetrics(t, base)

	// Every browser wait below is for a condition (Chromium's DevTools
	// address, a navigation's response, the lanes in the table), under one
	// hang guard: a busy two-core machine starts Chromium and renders the
	// dashboard in its own time, and no step has a wall-clock expectation
	// of its own. The guard is generous and stays inside go test's
	// -timeout, so a real hang still fails here, with Chromium's output.
	guard := 5 * time.Minute
	if dl, ok := t.Deadline(); ok {
		guard = min(guard, time.Until(dl)-30*time.Second)
	}
	var chromeOut syncBuffer // chromedp copies the output from another goroutine
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		// chromedp gives Chromium a fixed 20 s to print its DevTools
		// address; the guard bounds it instead.
		chromedp.WSURLReadTimeout(guard),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		// No internet here: keep Chromium from calling home.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1080), // the dashboard scrolls inside the viewport: tall enough for the queue table
		chromedp.CombinedOutput(&chromeOut),
	)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, guard)
	defer cancel()
	fail := func(format string, args ...any) {
		t.Helper()
		out := strings.Split(chromeOut.String(), "\n")
		t.Logf("chromium output (last lines):\n%s", strings.Join(out[max(0, len(out)-30):], "\n"))
		t.Fatalf(format, args...)
	}
	// Start Chromium on its own first, so a slow start shows as such and
	// not as a failed login.
	started := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`true`)); err != nil {
		fail("start chromium (hang guard %s): %v", guard, err)
	}
	t.Logf("chromium up in %s", time.Since(started).Round(time.Millisecond))

	login := func(ctx context.Context, password string) error {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+password))
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		// The UI links Google's fonts, out of reach here: fail them at once.
		if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{
			{URLPattern: "*://fonts.googleapis.com/*", Block: true}, {URLPattern: "*://fonts.gstatic.com/*", Block: true},
		}}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}})
		return err
	}

	// A wrong password: the browser gets 401 and no dashboard.
	wrongTab, cancelWrong := chromedp.NewContext(ctx)
	if err := login(wrongTab, "wrong"); err != nil {
		fail("wrong-password tab: %v", err)
	}
	// Chromium ends a navigation whose credentials the server refused (401
	// to a request carrying Authorization) with ERR_INVALID_AUTH_CREDENTIALS.
	r, err := chromedp.Run(wrongTab, chromedp.NavigateResponse(base+"/monitoring/"))
	switch {
	case err != nil && strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS"):
	case err != nil:
		fail("open the monitor with a wrong password: %v", err)
	case r.Status != http.StatusUnauthorized:
		fail("wrong password in the browser: HTTP %d, want 401", r.Status)
	}
	cancelWrong()

	// The dev credentials: the dashboard lists every lane.
	if err := login(ctx, "dev-token"); err != nil {
		fail("login: %v", err)
	}
	r, err = chromedp.Run(ctx, chromedp.NavigateResponse(base+"/monitoring/"))
	if err != nil || r.Status != http.StatusOK {
		fail("open the monitor: %v %+v", err, r)
	}
	lanes, _ := json.Marshal(sms.Lanes)
	// The queue table's first column holds the names (links to each queue).
	listed := `(() => { const names = [...document.querySelectorAll('table tbody tr > :first-child')].map(td => td.innerText.trim());
		return ` + string(lanes) + `.concat(['` + tasks.CallbackQueue + `']).every(l => names.includes(l)) ? names : null; })()`
	// Until the table lists them; only the hang guard (ctx) bounds the wait.
	names, err := chromedp.Run(ctx, chromedp.Poll[[]string](listed, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		fail("the dashboard does not list the lanes %s: %v\npage text:\n%s", lanes, err, text)
	}
	t.Logf("dashboard lists the queues %v", names)

	checkArchivedInBrowser(ctx, base, fail)

	// The dashboard again for the screenshot (docs/monitor.png).
	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/monitoring/")); err != nil {
		fail("open the monitor: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[[]string](listed, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0))); err != nil {
		fail("the dashboard does not list the lanes again: %v", err)
	}
	// The charts load after the table: give them a moment so the picture
	// shows them drawn. Only the picture depends on it, so a chart still
	// empty after the wait is logged, not failed.
	drawn := `document.querySelectorAll('.recharts-line-curve, .recharts-bar-rectangle').length > 0 || null`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](drawn, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Logf("the dashboard's charts are not drawn yet (%v): the screenshot shows them empty", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		fail("screenshot: %v", err)
	}
	dir := os.Getenv("SMSFLEET_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "monitor-dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the monitor: %s (%d bytes)", path, len(png))
}

// checkMonitorGuarded checks over plain HTTP that the monitor API asks
// for the credentials and is read-only.
func checkMonitorGuarded(t *testing.T, base string) {
	t.Helper()
	for _, tc := range []struct {
		name, method, user, pass string
		want                     int
	}{
		{"no credentials", http.MethodGet, "", "", http.StatusUnauthorized},
		{"wrong password", http.MethodGet, "admin", "wrong", http.StatusUnauthorized},
		{"dev credentials", http.MethodGet, "admin", "dev-token", http.StatusOK},
		{"read-only", http.MethodPost, "admin", "dev-token", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(tc.method, base+"/monitoring/api/queues/otp:pause", nil)
		if tc.method == http.MethodGet {
			req.URL.Path = "/monitoring/api/queues"
		}
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s: %s %s = %d, want %d", tc.name, tc.method, req.URL.Path, resp.StatusCode, tc.want)
		}
	}
}

// createOneSMS sends one SMS through the dev API at base, as the README's
// first curl does, and returns its message code.
func createOneSMS(t *testing.T, base string) string {
	t.Helper()
	return createSMSTo(t, base, "+4915112345678")
}

// createSMSTo sends one SMS "Hello" to phone through the dev API and
// returns its message code.
func createSMSTo(t *testing.T, base, phone string) string {
	t.Helper()
	resp, err := http.Post(base+"/json/1.3/createMessage", "application/json", strings.NewReader(
		`{"request":{"application":"DEMO0-00000","auth":"dev-token","notifications":[{"send_date":"now","content":"Hello","devices":["`+phone+`"],"use_auto_registration":true}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		StatusCode int `json:"status_code"`
		Response   struct{ Messages []string }
	}
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if err != nil || created.StatusCode != 200 || len(created.Response.Messages) != 1 {
		t.Fatalf("createMessage: %+v %v", created, err)
	}
	return created.Response.Messages[0]
}

// checkMonitorMetrics checks that /monitoring/metrics needs the monitor's
// login (issue 13, item 10) and, with it, has the asynq queue size of
// every lane.
func checkMonitorMetrics(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/monitoring/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/monitoring/metrics without credentials: HTTP %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/monitoring/metrics", nil)
	req.SetBasicAuth("admin", "dev-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, lane := range sms.Lanes {
		if want := `asynq_queue_size{queue="` + lane + `"}`; !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/monitoring/metrics lacks %s", want)
		}
	}
}

// TestMonitorCommand runs `smsfleet monitor` against a real redis-server:
// the guarded monitor, /metrics with the lanes, /healthz, /readyz, and a
// clean stop.
func TestMonitorCommand(t *testing.T) {
	r := testenv.NewRedis(t)
	t.Setenv("SMSFLEET_REDIS_ADDR", r.Addr)
	base := startMonitorCommand(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, path, user, pass string
		want                   int
		body                   string
	}{
		{"healthz", "/healthz", "", "", http.StatusOK, "ok"},
		{"readyz", "/readyz", "", "", http.StatusOK, "ready"},
		{"metrics without credentials", "/metrics", "", "", http.StatusUnauthorized, ""},
		{"metrics with a wrong password", "/metrics", "admin", "dev-token", http.StatusUnauthorized, ""},
		{"metrics", "/metrics", "admin", "on-call", http.StatusOK, `asynq_queue_size{queue="otp"} 0`},
		{"home redirects", "/", "", "", http.StatusFound, ""},
		{"monitor without credentials", "/monitoring/", "", "", http.StatusUnauthorized, ""},
		{"monitor with a wrong password", "/monitoring/api/queues", "admin", "dev-token", http.StatusUnauthorized, ""},
		{"monitor", "/monitoring/api/queues", "admin", "on-call", http.StatusOK, `"queue":"dispatch"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s: GET %s = %d %.300s, want %d with %q", tc.name, tc.path, resp.StatusCode, b, tc.want, tc.body)
		}
	}
}

// startMonitorCommand runs `smsfleet monitor` (password on-call) with the
// test's environment until the test ends, and returns its base URL.
func startMonitorCommand(t *testing.T) string {
	t.Helper()
	t.Setenv("SMSFLEET_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("SMSFLEET_LOG_LEVEL", "warn")
	t.Setenv("SMSFLEET_MONITOR_PASSWORD", "on-call")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runMonitor(ctx, &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("monitor did not stop cleanly: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("monitor did not stop within 10 s")
		}
	})
	re := regexp.MustCompile(`monitor on (http://\S+)/monitoring/`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("monitor stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address in %q", out.String())
		}
	}
}

func TestMonitorNeedsPassword(t *testing.T) {
	t.Setenv("SMSFLEET_MONITOR_PASSWORD", "")
	t.Setenv("SMSFLEET_MONITOR_AUTH", "basic")
	err := runMonitor(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SMSFLEET_MONITOR_PASSWORD") {
		t.Fatalf("monitor without a password: %v", err)
	}
}

// failingPhone is a number the simulator rejects for good (…0001).
const failingPhone = "+4915112340001"

// checkArchivedInBrowser opens the transactional lane's archived tasks in
// the monitor and waits until the failed SMS is listed there with its
// error and masked phone, and without the full number.
func checkArchivedInBrowser(ctx context.Context, base string, fail func(string, ...any)) {
	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/monitoring/queues/transactional?status=archived")); err != nil {
		fail("open the archived tasks: %v", err)
	}
	shown := `(() => { const t = document.body.innerText; return t.includes('failed for good') && t.includes('21211') ? t : null; })()`
	text, err := chromedp.Run(ctx, chromedp.Poll[string](shown, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		fail("the archived tasks do not list the failed SMS with its error: %v\npage text:\n%s", err, page)
	}
	if strings.Contains(text, failingPhone) {
		fail("the archived tasks show the full phone number:\n%s", text)
	}
}

// sendWithCallback sends one SMS with a status_callback to a local
// listener and waits until its first callback arrives.
func sendWithCallback(t *testing.T, base string) {
	t.Helper()
	got := make(chan struct{}, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	resp, err := http.Post(base+"/json/1.3/createMessage", "application/json", strings.NewReader(
		`{"request":{"application":"DEMO0-00000","auth":"dev-token","notifications":[{"send_date":"now","content":"tracked","devices":["+4915112340005"],"use_auto_registration":true,"status_callback":"`+srv.URL+`/sms-status"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	select {
	case <-got:
	case <-time.After(2 * time.Minute): // a hang guard, not a speed check
		t.Fatal("no status callback arrived")
	}
}
