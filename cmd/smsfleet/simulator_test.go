package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// simBanner hands what runSimulator prints to the test.
type simBanner chan string

func (b simBanner) Write(p []byte) (int, error) {
	select {
	case b <- string(p):
	default: // nobody listens any more
	}
	return len(p), nil
}

// startSimulator runs `smsfleet simulator` in-process on a free port and
// returns the simulator's base URL (http://host:port/simulator); it must
// stop cleanly at cleanup.
func startSimulator(t *testing.T) string {
	t.Helper()
	t.Setenv("SMSFLEET_HTTP_ADDR", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	out := make(simBanner, 4)
	done := make(chan error, 1)
	go func() { done <- runSimulator(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("simulator did not stop cleanly: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("simulator did not stop within 15 s")
		}
	})
	select {
	case line := <-out:
		m := regexp.MustCompile(`http://(\S+)/simulator/`).FindStringSubmatch(line)
		if m == nil || strings.Count(line, "\n") != 1 {
			t.Fatalf("banner %q: want one line with the URL", line)
		}
		return "http://" + m[1] + "/simulator"
	case err := <-done:
		t.Fatalf("simulator stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no banner within 10 s")
	}
	return ""
}

func TestSimulatorCommand(t *testing.T) {
	base := startSimulator(t)
	host := strings.TrimSuffix(base, "/simulator")
	resp, err := http.Get(host + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: HTTP %d", resp.StatusCode)
	}

	tw := provider.NewTwilio(provider.TwilioConfig{Name: "acme", BaseURL: base + "/acme", AccountSID: "ACdemo", AuthToken: "token",
		StatusCallback: "http://127.0.0.1:1/receipts", Timeout: 5 * time.Second}, nil)
	send := func(id string) (provider.Result, error) {
		return tw.Send(context.Background(), provider.Request{ID: id, To: "+447911123456", From: "Shop", Text: "hello " + id})
	}
	steps := []struct {
		name      string
		faults    string // set before the send, when not empty
		wantErr   bool
		wantClass provider.Class
	}{
		{"accepted", "", false, 0},
		{"down", `{"down":true}`, true, provider.Transient},
		{"throttling", `{"throttle_rate":1}`, true, provider.Throttled},
		{"back up", `{}`, false, 0},
	}
	for _, st := range steps {
		if st.faults != "" {
			resp, err := http.Post(base+"/acme/faults", "application/json", strings.NewReader(st.faults))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: faults HTTP %d", st.name, resp.StatusCode)
			}
		}
		res, err := send(st.name)
		if (err != nil) != st.wantErr || (err != nil && provider.ClassOf(err) != st.wantClass) {
			t.Fatalf("%s: %+v %v, want error %v class %s", st.name, res, err, st.wantErr, st.wantClass)
		}
	}

	var faults simulator.Faults
	simGetJSON(t, base+"/acme/faults", &faults)
	if faults != (simulator.Faults{}) {
		t.Fatalf("faults after clearing: %+v", faults)
	}
	var list struct{ Messages []simulator.Received }
	simGetJSON(t, base+"/messages?provider=acme", &list)
	if len(list.Messages) != 2 || list.Messages[0].ID != "back up" || list.Messages[1].ID != "accepted" ||
		list.Messages[0].StatusCallback != "http://127.0.0.1:1/receipts" || list.Messages[0].Account != "ACdemo" {
		t.Fatalf("messages %+v", list.Messages)
	}

	// A send held by a latency fault must not hold up stopping: cleanup
	// checks the command stops within its limit while this one waits.
	resp, err = http.Post(base+"/acme/faults", "application/json", strings.NewReader(`{"latency_ms":60000}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	go func() { _, _ = send("held") }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		simGetJSON(t, base+"/messages?provider=acme", &list)
		if len(list.Messages) == 3 {
			break // accepted; its answer is what waits
		}
		if time.Now().After(deadline) {
			t.Fatal("the held send never arrived")
		}
	}
}

func TestSimulatorCommandBadAddress(t *testing.T) {
	t.Setenv("SMSFLEET_HTTP_ADDR", "127.0.0.1:notaport")
	err := runSimulator(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SMSFLEET_HTTP_ADDR") {
		t.Fatalf("bad address: %v", err)
	}
}

func simGetJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
