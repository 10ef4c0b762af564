package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// walkthroughTimeout bounds the whole walk-through: every wait in it is a
// bounded poll (wait_for, 30 s), so this only stops a hung run.
const walkthroughTimeout = 5 * time.Minute

// TestReadmeWalkthrough runs the README's "Walk-through with curl" blocks,
// as pasted, with bash -euo pipefail against `smsfleet dev` on free ports
// (B and CB_PORT point the blocks at them), and checks what the README's
// comments promise each step shows (issue 19: the walk-through drifted
// from the fleet). It needs curl, jq, python3 and openssl: under CI=true a
// missing one fails the test, elsewhere it skips.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's walk-through against dev (-short)")
	}
	requireTools(t, "bash", "curl", "jq", "python3", "openssl")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := walkthrough(t, string(readme))
	base := startDev(t)

	ctx, cancel := context.WithTimeout(context.Background(), walkthroughTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Env = append(os.Environ(), "B="+base, "CB_PORT="+strconv.Itoa(freePort(t)))
	// Its own process group: a failed run must not leave step 13's
	// listener behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("the walk-through failed (%v); its output:\n%s", err, out)
	}
	checkWalkthroughOutput(t, string(out))
}

// walkthrough is the README's "## Walk-through with curl" section's sh
// blocks, in order, as one script.
func walkthrough(t *testing.T, readme string) string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Walk-through with curl\n")
	if !ok {
		t.Fatal(`README.md has no "## Walk-through with curl" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 4 {
		t.Fatalf("the walk-through has %d sh blocks, want 4", len(blocks))
	}
	var b strings.Builder
	for _, m := range blocks {
		b.WriteString(m[1])
	}
	return b.String()
}

// checkWalkthroughOutput checks the output of the steps against what the
// README's comments say they show.
func checkWalkthroughOutput(t *testing.T, out string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`"status_code":(\d+)`).FindAllStringSubmatch(out, -1) {
		if m[1] != "200" {
			t.Errorf("a Pushwoosh call answered status_code %s:\n%s", m[1], out)
		}
	}
	for _, w := range []struct{ step, want string }{
		{"1", `{"status_code":200,"status_message":"OK","response":null}`},
		{"3", `"provider":"sim-a"`},
		{"6", "\ncanceled\n"},
		{"7", `"formatter":"hourly"`},
		{"9", `{"text":"Hi London, your code is 4711","from":"DEMO"}`},
		{"10", `{"status":"suppressed","reason":"opted_out"}`},
		{"11", `[{"provider":"sim-b","outcome":"sent"}]`},
		{"14", `"set_by":"phone"`},
		{"15", "smsfleet_sms_sent_total{"},
		{"15", "smsfleet_sms_outcomes_total{"},
		{"15", "asynq_queue_size{"},
	} {
		if !strings.Contains(out, w.want) {
			t.Errorf("step %s: the output lacks %s; output:\n%s", w.step, w.want, out)
		}
	}
}

// requireTools skips the test when a tool is missing, or fails it under
// CI=true (.ci/run installs them).
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not on PATH (CI=true: .ci/run installs it)", tool)
			}
			t.Skipf("%s is not on PATH", tool)
		}
	}
}

// freePort is a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
