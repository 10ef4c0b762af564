package guard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// clock is a test clock moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestPumpingCaps(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	ctx := context.Background()
	for n, tc := range []struct {
		name    string
		g       config.Guards
		phones  func(i int) string
		allowed int
		rule    string
		// after is how far the clock moves for the window to free a slot.
		after time.Duration
	}{
		{"per phone per hour", config.Guards{OTPPerPhoneHour: 3}, func(int) string { return "+447400123456" }, 3, RuleOTPPhone, time.Hour},
		{"per prefix per minute", config.Guards{OTPPerPrefixMinute: 4}, func(i int) string { return fmt.Sprintf("+44740012%04d", i) }, 4, RuleOTPPrefix, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fmt.Sprintf("SHOP%d-00001", n) // one application per case: no shared counts
			clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 30, 0, time.UTC)}
			p := NewPumping(rdb, clk.now)
			r := rulesOf(tc.g)
			charge := func(i int) *Refusal {
				t.Helper()
				ref, _, err := p.Charge(ctx, app, r, fmt.Sprintf("%s-%d", tc.name, i), tc.phones(i))
				if err != nil {
					t.Fatal(err)
				}
				return ref
			}
			for i := range tc.allowed {
				if ref := charge(i); ref != nil {
					t.Fatalf("SMS %d refused: %v", i, ref)
				}
				// Peek sees the count, and refuses one more when full.
				_, ref, err := p.Peek(ctx, app, r, []string{tc.phones(tc.allowed)})
				if err != nil {
					t.Fatal(err)
				}
				if (ref != nil) != (i == tc.allowed-1) {
					t.Fatalf("peek after %d SMS: %v", i+1, ref)
				}
			}
			// A retry of a counted SMS counts nothing and is allowed.
			if ref := charge(0); ref != nil {
				t.Fatalf("retry of a counted SMS refused: %v", ref)
			}
			ref := charge(tc.allowed)
			if ref == nil || ref.Rule != tc.rule {
				t.Fatalf("SMS over the cap: %v, want %s", ref, tc.rule)
			}
			clk.t = clk.t.Add(tc.after)
			if ref := charge(tc.allowed + 1); ref != nil {
				t.Fatalf("after the window: %v", ref)
			}
		})
	}
}

// TestPumpingPeekCountsTheRequest: a request of several phones of one
// prefix is refused when together they pass the cap.
func TestPumpingPeekCountsTheRequest(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	p := NewPumping(rdb, (&clock{t: time.Unix(1_800_000_000, 0)}).now)
	r := rulesOf(config.Guards{OTPPerPrefixMinute: 2})
	idx, ref, err := p.Peek(context.Background(), "SHOP1-00001", r, []string{"+447400123001", "+447400123002", "+447400123003"})
	if err != nil {
		t.Fatal(err)
	}
	if ref == nil || idx != 2 || ref.Rule != RuleOTPPrefix {
		t.Fatalf("peek: %d %v, want the third phone refused by the prefix cap", idx, ref)
	}
}

// TestPumpingAnomaly: a prefix whose minute goes over factor × its recent
// average and over the floor is reported hot once, at the crossing.
func TestPumpingAnomaly(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	p := NewPumping(rdb, clk.now)
	r := rulesOf(config.Guards{OTPPerPhoneHour: 1000, AnomalyFactor: 3, AnomalyFloor: 5})
	n := 0
	send := func(count int) (hot int) {
		for range count {
			n++
			_, h, err := p.Charge(ctx, "SHOP1-00001", r, fmt.Sprint("sms-", n), fmt.Sprintf("+44740012%04d", n))
			if err != nil {
				t.Fatal(err)
			}
			if h {
				hot++
			}
		}
		return hot
	}
	// Ten quiet minutes of 2 OTP a minute: average 2, threshold max(5, 6) = 6.
	for range config.AnomalyMinutes {
		if h := send(2); h != 0 {
			t.Fatalf("a quiet minute reported hot %d times", h)
		}
		clk.t = clk.t.Add(time.Minute)
	}
	if h := send(6); h != 0 {
		t.Fatalf("6 OTP (at the threshold) reported hot %d times", h)
	}
	if h := send(10); h != 1 {
		t.Fatalf("16 OTP in the minute reported hot %d times, want once", h)
	}
	// Every counter expires.
	keys, err := rdb.Keys(ctx, "sf:g*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Fatalf("key %s has no TTL (%v)", k, ttl)
		}
	}
}
