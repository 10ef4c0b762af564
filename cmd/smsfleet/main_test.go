package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{c.name, "--help"}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d, stderr %s", code, errOut.String())
			}
			if !strings.Contains(out.String(), "Usage: smsfleet "+c.name) {
				t.Fatalf("help of %s: %s", c.name, out.String())
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"bogus"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "bogus"`) {
		t.Fatalf("unknown command: exit %d, %s", code, errOut.String())
	}
}

func TestAPINeedsApplications(t *testing.T) {
	t.Setenv("SMSFLEET_APPLICATIONS", "")
	err := runRoles(true, false)(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SMSFLEET_APPLICATIONS") {
		t.Fatalf("api without applications: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe to read while dev writes its banner.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDev runs `smsfleet dev` in-process on a free port, as the README's
// first command does, and returns its base URL; the fleet is stopped (and
// must stop cleanly) at cleanup.
func startDev(t *testing.T) string {
	t.Helper()
	t.Setenv("SMSFLEET_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("SMSFLEET_DEV_KAFKA_ADDR", "127.0.0.1:0")
	t.Setenv("SMSFLEET_LOG_LEVEL", "warn")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev did not stop cleanly: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("dev did not stop within a minute")
		}
	})

	re := regexp.MustCompile(`API\s+http://(\S+)/json/1.3`)
	for deadline := time.Now().Add(time.Minute); ; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			if !strings.Contains(out.String(), "DEMO0-00000") || !strings.Contains(out.String(), "dev-token") {
				t.Fatalf("banner lacks the application or token: %s", out.String())
			}
			return "http://" + m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSent polls the native API until message code's one SMS is sent
// (or, its receipt in, delivered).
func waitSent(t *testing.T, base, code string) {
	t.Helper()
	waitStatus(t, base, code, "sent", "delivered")
}

// waitStatus polls the native API until message code's one SMS is in one
// of statuses.
func waitStatus(t *testing.T, base, code string, statuses ...string) {
	t.Helper()
	// A hang guard, not a speed check: it only ends a test that would
	// otherwise wait for ever, so it is generous for a busy machine.
	for deadline := time.Now().Add(time.Minute); ; {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/messages/"+code, nil)
		req.Header.Set("Authorization", "Token dev-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Recipients []struct{ Status string } }
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if len(v.Recipients) == 1 && slices.Contains(statuses, v.Recipients[0].Status) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("SMS of %s not %v in dev mode: %+v", code, statuses, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDevModeSendsAnSMS walks the README's curl walk-through against dev.
func TestDevModeSendsAnSMS(t *testing.T) {
	base := startDev(t)
	post := func(method, body string) map[string]any {
		resp, err := http.Post(base+"/json/1.3/"+method, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env["status_code"] != float64(200) {
			t.Fatalf("%s: %v %v", method, env, err)
		}
		return env
	}
	// The dev application takes device calls without a token.
	post("registerDevice", `{"request":{"application":"DEMO0-00000","hwid":"+447911123456","device_type":18}}`)
	env := post("createMessage", `{"request":{"application":"DEMO0-00000","auth":"dev-token","notifications":[{"send_date":"now","content":"Hello from dev","devices":["+447911123456"]}]}}`)
	code := env["response"].(map[string]any)["Messages"].([]any)[0].(string)
	waitSent(t, base, code)
	// The simulator posts its receipt to the webhook, through Kafka (kfake)
	// to the consumer: the SMS becomes delivered.
	waitStatus(t, base, code, "delivered")

	resp, err := http.Get(base + "/simulator/messages?to=%2B447911123456")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Hello from dev") {
		t.Fatalf("simulator: %s", body)
	}
}
