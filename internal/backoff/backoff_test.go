package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayDoublesWithinJitterAndCaps(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for n, full := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		full *= time.Millisecond
		for range 50 {
			if d := p.Delay(n); d < full/2 || d > full {
				t.Fatalf("Delay(%d) = %s, want in [%s, %s]", n, d, full/2, full)
			}
		}
	}
	// A huge attempt count must not overflow into a negative delay.
	if d := p.Delay(1 << 20); d < p.Max/2 || d > p.Max {
		t.Fatalf("Delay(huge) = %s", d)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if (Policy{Base: time.Hour, Max: time.Hour}).Wait(ctx, 0) {
		t.Fatal("Wait reported the full delay on a cancelled context")
	}
}
