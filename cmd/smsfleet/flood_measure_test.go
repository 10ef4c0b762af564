package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestMeasureTokenlessFlood measures what a flood of tokenless 16 MiB
// requests costs `smsfleet api` in RSS (issue 13, item 2): it builds the
// binary, runs it as its own process over a fresh redis-server, records
// its idle RSS, sends SMSFLEET_MEASURE_FLOOD parallel clients (each
// sending three 16 MiB bodies without a token, half with Content-Length
// and half chunked), samples the process's RSS throughout and prints
// idle, peak and after. Run by hand:
//
//	SMSFLEET_MEASURE_FLOOD=32 go test ./cmd/smsfleet/ -run TestMeasureTokenlessFlood -v
func TestMeasureTokenlessFlood(t *testing.T) {
	parallel, _ := strconv.Atoi(os.Getenv("SMSFLEET_MEASURE_FLOOD"))
	if parallel <= 0 {
		t.Skip("set SMSFLEET_MEASURE_FLOOD=<parallel requests> to measure")
	}
	bin := filepath.Join(t.TempDir(), "smsfleet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := testenv.NewRedis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "api")
	cmd.Env = append(os.Environ(), "SMSFLEET_HTTP_ADDR="+addr, "SMSFLEET_REDIS_ADDR="+r.Addr,
		"SMSFLEET_APPLICATIONS=SHOP1-00001:shop-server-token", "SMSFLEET_LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if i > 300 {
			t.Fatalf("smsfleet api never became ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rss := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
		t.Fatal("no VmRSS")
		return 0
	}
	// A valid request first, so idle includes a warmed-up handler.
	resp, err := http.Post(base+"/json/1.3/getTags", "application/json", strings.NewReader(`{"request":{"application":"SHOP1-00001","auth":"shop-server-token","hwid":"+4915100000001"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	idle := rss()

	// The body an attacker sends: a createMessage of 16 MiB minus a little
	// (within SMSFLEET_MAX_BODY_BYTES), with no token anywhere.
	const size = 16<<20 - 256
	var b bytes.Buffer
	b.WriteString(`{"request":{"application":"SHOP1-00001","notifications":[{"send_date":"now","content":"x","devices":["+4915100000000"`)
	for b.Len() < size-40 {
		b.WriteString(`,"+4915100000000"`)
	}
	b.WriteString(`]}]}}`)
	body := b.Bytes()

	var peak atomic.Int64
	peak.Store(idle)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if v := rss(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: parallel}}
	for i := range parallel {
		wg.Go(func() {
			for range 3 {
				var rd io.Reader = bytes.NewReader(body)
				if i%2 == 1 {
					rd = io.MultiReader(rd) // no Content-Length: chunked
				}
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/json/1.3/createMessage", rd)
				resp, err := client.Do(req)
				key := ""
				if err != nil {
					key = "error"
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					key = strconv.Itoa(resp.StatusCode)
				}
				mu.Lock()
				statuses[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	after := rss()
	mb := func(v int64) string { return fmt.Sprintf("%.1f MB", float64(v)/(1<<20)) }
	t.Logf("tokenless flood: %d parallel x 3 requests of %d bytes; answers %v", parallel, len(body), statuses)
	t.Logf("RSS of smsfleet api: idle %s, peak %s (+%s), after %s", mb(idle), mb(peak.Load()), mb(peak.Load()-idle), mb(after))
}
