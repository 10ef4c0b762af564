package worker

import (
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndCaps(t *testing.T) {
	f := Backoff(100*time.Millisecond, 2*time.Second)
	for n := range 40 {
		full := min(100*time.Millisecond<<min(n, 30), 2*time.Second)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := f(n, nil, nil)
			if d < full/2 || d > full {
				t.Fatalf("retry %d waited %s, want between %s and %s", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("retry %d: no jitter, always %v", n, seen)
		}
	}
}
