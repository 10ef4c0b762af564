package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// startCommand runs `smsfleet <name>` in-process (through the commands
// table, as main does) and waits until it is ready or returns. It returns
// the command's error when it did not start; a started command is stopped
// (and must stop cleanly) at cleanup.
func startCommand(t *testing.T, name string) (addr string, err error) {
	t.Helper()
	var run func(context.Context, io.Writer) error
	for _, c := range commands {
		if c.name == name {
			run = c.run
		}
	}
	if run == nil {
		t.Fatalf("no command %q", name)
	}
	addr = freeAddr(t)
	t.Setenv("SMSFLEET_HTTP_ADDR", addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, io.Discard) }()
	// A hang guard, not a speed check.
	for deadline := time.Now().Add(time.Minute); ; {
		select {
		case err := <-done:
			cancel()
			return "", err
		default:
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("smsfleet %s neither started nor failed", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("smsfleet %s did not stop cleanly: %v", name, err)
			}
		case <-time.After(time.Minute):
			t.Errorf("smsfleet %s did not stop within a minute", name)
		}
	})
	return addr, nil
}

// TestSendingRolesNeedAProviderAndMountTheSimulatorOnlyWhenAsked: outside
// dev, the unauthenticated in-process simulator runs only with
// SMSFLEET_SIMULATOR=inprocess, and a role that sends with nowhere to send
// refuses to start, naming what to set (issue 13, item 3).
func TestSendingRolesNeedAProviderAndMountTheSimulatorOnlyWhenAsked(t *testing.T) {
	r := testenv.NewRedis(t)
	// A real provider elsewhere: a standalone simulator, reached as a
	// Twilio-kind provider (its API is Twilio's) or through SMSFLEET_SIMULATOR_URL.
	remote := simulator.New("acme", 0)
	remoteSrv := httptest.NewServer(remote.Handler())
	defer remoteSrv.Close()
	cfgFile := filepath.Join(t.TempDir(), "smsfleet.yaml")
	providers := fmt.Sprintf("providers:\n  - {name: acme, kind: twilio, url: %q, account_sid: ACdemo, auth_token_env: ACME_TOKEN}\nroute: {providers: [acme]}\n", remoteSrv.URL+"/simulator/acme")
	if err := os.WriteFile(cfgFile, []byte(providers), 0o600); err != nil {
		t.Fatal(err)
	}
	simOnly := filepath.Join(t.TempDir(), "sim.yaml")
	if err := os.WriteFile(simOnly, []byte("providers:\n  - {name: local, kind: simulator}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noProvider := []string{"no provider configured", "SMSFLEET_CONFIG", "SMSFLEET_SIMULATOR_URL", "SMSFLEET_SIMULATOR=inprocess"}
	tests := []struct {
		name, role string
		env        map[string]string
		wantErr    []string // the start-up error must name these; nil: it starts
		simulator  int      // what GET /simulator/messages answers once started
		// sentTo is the simulator the started fleet's SMS reach: "remote"
		// (the provider elsewhere) or "local" (its own /simulator/).
		sentTo string
	}{
		{name: "all without any provider", role: "all", wantErr: noProvider},
		{name: "worker without any provider", role: "worker", wantErr: noProvider},
		{name: "a simulator provider without url", role: "all", env: map[string]string{"SMSFLEET_CONFIG": simOnly, "SMSFLEET_SIMULATOR_SECRET": "roles-test-simulator-secret"},
			wantErr: []string{"provider local", "SMSFLEET_SIMULATOR_URL", "SMSFLEET_SIMULATOR=inprocess"}},
		{name: "an unknown SMSFLEET_SIMULATOR", role: "all", env: map[string]string{"SMSFLEET_SIMULATOR": "yes"},
			wantErr: []string{`SMSFLEET_SIMULATOR must be inprocess or empty, got "yes"`}},
		{name: "inprocess and a simulator URL", role: "all", env: map[string]string{"SMSFLEET_SIMULATOR": "inprocess", "SMSFLEET_SIMULATOR_URL": remoteSrv.URL + "/simulator"},
			wantErr: []string{"exclusive"}},
		{name: "all with real providers", role: "all", env: map[string]string{"SMSFLEET_CONFIG": cfgFile, "SMSFLEET_PUBLIC_URL": "https://sms.example.com"},
			simulator: http.StatusNotFound, sentTo: "remote"},
		{name: "all with a standalone simulator", role: "all", env: map[string]string{"SMSFLEET_SIMULATOR_URL": remoteSrv.URL + "/simulator"},
			simulator: http.StatusNotFound, sentTo: "remote"},
		{name: "all with the in-process simulator asked for", role: "all", env: map[string]string{"SMSFLEET_SIMULATOR": "inprocess"},
			simulator: http.StatusOK, sentTo: "local"},
		{name: "all with providers and the in-process simulator", role: "all", env: map[string]string{"SMSFLEET_CONFIG": cfgFile, "SMSFLEET_SIMULATOR": "inprocess", "SMSFLEET_PUBLIC_URL": "https://sms.example.com"},
			simulator: http.StatusOK, sentTo: "remote"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range map[string]string{
				"SMSFLEET_REDIS_ADDR": r.Addr, "SMSFLEET_APPLICATIONS": "SHOP1-00001:shop-server-token", "SMSFLEET_LOG_LEVEL": "error",
				"SMSFLEET_SHUTDOWN_GRACE": "2s", "SMSFLEET_WORKER_TASK_CHECK_INTERVAL": "20ms", "ACME_TOKEN": "acme-auth-token",
				"SMSFLEET_CONFIG": "", "SMSFLEET_SIMULATOR": "", "SMSFLEET_SIMULATOR_URL": "",
			} {
				t.Setenv(k, v)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			addr, err := startCommand(t, tt.role)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("smsfleet %s started; want it to refuse naming %q", tt.role, tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("smsfleet %s did not start: %v", tt.role, err)
			}
			resp, err := http.Get("http://" + addr + "/simulator/messages")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.simulator {
				t.Fatalf("GET /simulator/messages: %d %s, want %d", resp.StatusCode, body, tt.simulator)
			}
			// Where the SMS goes: a phone of its own per case.
			phone := fmt.Sprintf("+4915112%06d", 396000+i*10+7)
			createLoad(t, addr, []string{phone})
			for deadline := time.Now().Add(30 * time.Second); ; {
				var got bool
				if tt.sentTo == "remote" {
					got = len(remote.Messages(phone, 1)) == 1
				} else {
					resp, err := http.Get("http://" + addr + "/simulator/messages?to=" + strings.Replace(phone, "+", "%2B", 1))
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					got = strings.Contains(string(b), phone)
				}
				if got {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the SMS to %s never reached the %s simulator", phone, tt.sentTo)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
