package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/bench"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// TestBenchAgainstAFleet runs each mode against a whole fleet on a real
// redis-server and checks what it counted: every SMS accepted and every
// one at the provider, with Redis costs read. No timing is asserted.
func TestBenchAgainstAFleet(t *testing.T) {
	e := harness.New(t)
	const n = 50
	tests := []struct {
		mode, prefix string
		otps         int
	}{
		{bench.ModeSingle, "+4915121", 0},
		{bench.ModeBulk, "+4915122", 0},
		{bench.ModeOTPUnderBulk, "+4915123", 5},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			res, err := bench.Run(context.Background(), bench.Options{
				URL: e.API.URL, SimURL: e.SimServer.URL + "/simulator", App: harness.ShopApp, Auth: harness.ShopToken,
				N: n, C: 8, Mode: tt.mode, OTPs: tt.otps, Redis: e.Redis.Addr, Prefix: tt.prefix,
				// A hang guard, not a speed check.
				Timeout: 2 * time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Registered != n+tt.otps || res.Accepted != n || res.Failed != 0 || res.Arrived != n || res.TimedOut {
				t.Fatalf("registered %d accepted %d failed %d (%s) arrived %d timed out %v, want %d/%d/0/%d",
					res.Registered, res.Accepted, res.Failed, res.FirstFailure, res.Arrived, res.TimedOut, n+tt.otps, n, n)
			}
			if res.APIToProvider.Count != n {
				t.Fatalf("API→provider latency of %d SMS, want %d", res.APIToProvider.Count, n)
			}
			if tt.otps > 0 && (res.OTP == nil || res.OTP.Sent != tt.otps || res.OTP.Arrived != tt.otps || res.OTP.APIToProvider.Count != tt.otps) {
				t.Fatalf("OTPs %+v, want %d sent and arrived", res.OTP, tt.otps)
			}
			if res.Redis == nil || res.Redis.SMS != n+tt.otps || res.Redis.Commands <= 0 || res.Redis.RoundTrips <= 0 || len(res.Redis.Top) == 0 {
				t.Fatalf("redis cost %+v", res.Redis)
			}
			var table bytes.Buffer
			if err := res.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"accepted", "reached the provider", "API→provider", "round trips"} {
				if !strings.Contains(table.String(), want) {
					t.Fatalf("table lacks %q:\n%s", want, table.String())
				}
			}
			if _, err := json.Marshal(res); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOptionsNameTheBadFlag: a bad option fails before any request,
// naming the flag.
func TestOptionsNameTheBadFlag(t *testing.T) {
	good := bench.Options{URL: "http://127.0.0.1:1", App: "A", Auth: "t", N: 10, C: 2, Mode: bench.ModeSingle, Prefix: "+4915112", Timeout: time.Minute}
	tests := []struct {
		flag   string
		mutate func(*bench.Options)
	}{
		{"-mode", func(o *bench.Options) { o.Mode = "burst" }},
		{"-target", func(o *bench.Options) { o.Target = "smpp" }},
		{"-n", func(o *bench.Options) { o.N = 0 }},
		{"-c", func(o *bench.Options) { o.C = -1 }},
		{"-prefix", func(o *bench.Options) { o.Prefix = "4915112" }},
		{"-prefix", func(o *bench.Options) { o.Prefix = "+49151123456" }},
		{"-timeout", func(o *bench.Options) { o.Timeout = 0 }},
		{"-app", func(o *bench.Options) { o.App = "" }},
		{"-otps", func(o *bench.Options) { o.Mode, o.OTPs = bench.ModeOTPUnderBulk, 0 }},
		{"-kannel-log", func(o *bench.Options) { o.Target, o.Auth = bench.TargetKannel, "u:p" }},
		{"-target kannel supports -mode single", func(o *bench.Options) { o.Target, o.Mode, o.KannelLog = bench.TargetKannel, bench.ModeBulk, "x" }},
		{"-n", func(o *bench.Options) { o.N = 2_000_000 }},
	}
	for _, tt := range tests {
		o := good
		tt.mutate(&o)
		if _, err := bench.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), tt.flag) {
			t.Errorf("%s: err %v", tt.flag, err)
		}
	}
}

// TestPhonesSkipTheSimulatorsTestNumbers: every number of a run is one the
// simulator accepts at once.
func TestPhonesSkipTheSimulatorsTestNumbers(t *testing.T) {
	ph, err := bench.Phones("+4915112", 20_005)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range ph {
		if strings.HasSuffix(p, "0001") || strings.HasSuffix(p, "0004") || seen[p] || len(p) != 14 {
			t.Fatalf("number %s (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
}
