package groupcommit

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// A lone caller flushes alone and at once; callers that arrive while a
// flush is in flight are flushed together by one of them, once each.
func TestGroupFlushesWhatArrivedDuringAFlushTogether(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var (
		mu      sync.Mutex
		flushes [][]int
	)
	g := &Group[int]{}
	g.Flush = func(items []int) {
		mu.Lock()
		flushes = append(flushes, append([]int(nil), items...))
		first := len(flushes) == 1
		mu.Unlock()
		if first { // hold the lone caller's flush in flight
			close(entered)
			<-release
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.Do(0) }()
	<-entered
	for i := 1; i <= 5; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); g.Do(i) }()
	}
	for g.Pending() != 5 {
		runtime.Gosched() // until the five are queued behind the flush in flight
	}
	close(release)
	wg.Wait()
	if len(flushes) != 2 || fmt.Sprint(flushes[0]) != "[0]" || len(flushes[1]) != 5 {
		t.Fatalf("flushes %v, want [0] alone then the five together", flushes)
	}
	seen := map[int]bool{}
	for _, i := range flushes[1] {
		seen[i] = true
	}
	if len(seen) != 5 {
		t.Fatalf("second flush %v, want 1..5 once each", flushes[1])
	}
	// Idle again: the next caller flushes alone.
	g.Do(9)
	if len(flushes) != 3 || fmt.Sprint(flushes[2]) != "[9]" {
		t.Fatalf("flushes %v", flushes)
	}
}
