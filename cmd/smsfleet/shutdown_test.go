package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// runUntilSIGTERM runs `smsfleet <role>` in-process and returns a stop
// function that sends this process a real SIGTERM, as Kubernetes does, and
// waits for the command to exit; its signal handler catches it.
func runUntilSIGTERM(t *testing.T, role, addr string) func() {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{role}, &out, &errOut) }()
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("smsfleet %s exited with %d: %s", role, code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("smsfleet %s never ready", role)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("smsfleet %s exited with %d after SIGTERM: %s", role, code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("smsfleet %s did not stop within 30 s of SIGTERM", role)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSIGTERMMidLoadLosesNoTask stops `smsfleet all` with SIGTERM while it
// sends a 300-recipient message through a slow provider: in-flight sends
// finish within the grace period, the rest stay queued in Redis, and a
// worker started afterwards sends them. Every SMS reaches the provider
// exactly once.
func TestSIGTERMMidLoadLosesNoTask(t *testing.T) {
	r := testenv.NewRedis(t)
	sim := simulator.New("simulator", 0)
	if err := sim.SetFaults("simulator", simulator.Faults{LatencyMS: 20}); err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()
	addr := freeAddr(t)
	for k, v := range map[string]string{
		"SMSFLEET_HTTP_ADDR": addr, "SMSFLEET_REDIS_ADDR": r.Addr, "SMSFLEET_SIMULATOR_URL": simSrv.URL + "/simulator",
		"SMSFLEET_APPLICATIONS": "SHOP1-00001:shop-server-token", "SMSFLEET_WORKER_CONCURRENCY": "4",
		"SMSFLEET_SHUTDOWN_GRACE": "10s", "SMSFLEET_LOG_LEVEL": "error", "SMSFLEET_WORKER_TASK_CHECK_INTERVAL": "20ms",
	} {
		t.Setenv(k, v)
	}
	stop := runUntilSIGTERM(t, "all", addr)

	const n = 300
	devices := make([]string, n)
	for i := range devices {
		devices[i] = fmt.Sprintf("+4915112%06d", 395000+i) // clear of the simulator's magic endings
	}
	code := createLoad(t, addr, devices)
	for sim.Count() < 30 {
		time.Sleep(5 * time.Millisecond)
	}
	stop() // mid-load
	atStop := sim.Count()
	if atStop >= n {
		t.Fatalf("everything was sent before the SIGTERM (%d); the test proves nothing", atStop)
	}

	st := store.New(r.Client(t), time.Hour)
	m, err := st.GetMessage(context.Background(), "", code)
	if err != nil {
		t.Fatal(err)
	}
	checkNothingInFlight(t, st, m, code, devices)

	stop = runUntilSIGTERM(t, "worker", addr)
	defer stop()
	for deadline := time.Now().Add(30 * time.Second); ; {
		m, err = st.GetMessage(context.Background(), "", code)
		if err != nil {
			t.Fatal(err)
		}
		if m.Counts["sent"] == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %v (sent %d before the SIGTERM)", m.Counts, atStop)
		}
		time.Sleep(50 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, msg := range sim.Messages("", n+1) {
		seen[msg.To]++
	}
	if sim.Count() != n || len(seen) != n {
		t.Fatalf("the provider holds %d SMS to %d phones, want %d each once", sim.Count(), len(seen), n)
	}
	t.Logf("%d of %d sent before SIGTERM, the rest after the restart", atStop, n)
}

// createLoad creates one message of shopApp to devices through the API
// at addr and returns its code.
func createLoad(t *testing.T, addr string, devices []string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"request": map[string]any{"application": "SHOP1-00001", "auth": "shop-server-token",
		"notifications": []any{map[string]any{"send_date": "now", "content": "load", "devices": devices, "use_auto_registration": true}}}})
	resp, err := http.Post("http://"+addr+"/json/1.3/createMessage", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		StatusCode int `json:"status_code"`
		Response   struct{ Messages []string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if env.StatusCode != 200 || len(env.Response.Messages) != 1 {
		t.Fatalf("createMessage: %+v", env)
	}
	return env.Response.Messages[0]
}

// checkNothingInFlight checks that after a graceful stop no SMS of m (code) is
// left sending or failed, logging each one that is.
func checkNothingInFlight(t *testing.T, st *store.Store, m store.Message, code string, devices []string) {
	t.Helper()
	if m.Counts["sending"] != 0 || m.Counts["failed"] != 0 {
		for _, d := range devices {
			rec, _ := st.GetSMS(context.Background(), storetest.SMSID(t, st, code, d))
			if rec.Status == "sending" || rec.Status == "failed" {
				t.Logf("%s: %+v", rec.Status, rec)
			}
		}
		t.Fatalf("after a graceful stop %d SMS are still sending: in-flight work was cut off (%v)", m.Counts["sending"], m.Counts)
	}
}
