package lifecycle

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/backoff"
)

// waits records the supervisor's restart delays and returns at once, so
// the tests count attempts instead of waiting on the wall clock.
type waits struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (w *waits) after(d time.Duration) <-chan time.Time {
	w.mu.Lock()
	w.delays = append(w.delays, d)
	w.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.delays)
}

// flaky fails its first `fails` runs (panicking on the run numbered
// panicAt, if any), then runs until stopped.
type flaky struct {
	name    string
	fails   int
	panicAt int
	mu      sync.Mutex
	runs    int
	healthy chan struct{}
}

func (f *flaky) Name() string { return f.name }

func (f *flaky) Run(ctx context.Context) error {
	f.mu.Lock()
	f.runs++
	n := f.runs
	f.mu.Unlock()
	if n == f.panicAt {
		panic("boom")
	}
	if n <= f.fails {
		return errors.New("down")
	}
	close(f.healthy)
	<-ctx.Done()
	return nil
}

func TestRestartsWithBackoffUntilHealthy(t *testing.T) {
	w := &waits{}
	policy := backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	// A frozen clock: no run ever counts as long, so the delays keep growing.
	frozen := time.Unix(0, 0)
	s := New(Options{Restart: policy, After: w.after, Now: func() time.Time { return frozen }})
	c := &flaky{name: "flaky", fails: 5, panicAt: 3, healthy: make(chan struct{})}
	s.Add(c)
	s.Start()
	<-c.healthy
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := w.list()
	if len(got) != 5 {
		t.Fatalf("%d restarts after 5 failures (one a panic): %v", len(got), got)
	}
	for n, d := range got {
		full := min(policy.Base<<n, policy.Max)
		if d < full/2 || d > full {
			t.Errorf("restart %d waited %s, want in [%s, %s]", n+1, d, full/2, full)
		}
	}
}

func TestLongRunStartsBackoffOver(t *testing.T) {
	w := &waits{}
	policy := backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	// Every run appears to last a minute, longer than the longest delay.
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Minute)
		return now
	}
	s := New(Options{Restart: policy, After: w.after, Now: clock})
	c := &flaky{name: "flaky", fails: 4, healthy: make(chan struct{})}
	s.Add(c)
	s.Start()
	<-c.healthy
	_ = s.Stop(context.Background())
	for n, d := range w.list() {
		if d > policy.Base {
			t.Errorf("restart %d waited %s; a long run must start the backoff over at %s", n+1, d, policy.Base)
		}
	}
}

func TestFinishedComponentIsNotRestarted(t *testing.T) {
	w := &waits{}
	runs := 0
	done := make(chan struct{})
	s := New(Options{After: w.after})
	s.Add(Func("once", func(context.Context) error {
		runs++
		close(done)
		return nil
	}))
	s.Start()
	<-done
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || len(w.list()) != 0 {
		t.Fatalf("runs %d, restarts %d; a component returning nil is finished", runs, len(w.list()))
	}
}

func TestStopsInReverseOrder(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	started := make(chan struct{}, 3)
	s := New(Options{})
	for _, name := range []string{"relay", "lanes", "sweeper"} {
		s.Add(Func(name, func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			return nil
		}))
	}
	s.Start()
	for range 3 {
		<-started
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"sweeper", "lanes", "relay"}; !slices.Equal(stopped, want) {
		t.Fatalf("stopped %v, want %v", stopped, want)
	}
}

func TestStopGivesUpWithContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	s := New(Options{})
	s.Add(Func("stuck", func(context.Context) error {
		close(started)
		<-release // ignores its context
		return nil
	}))
	s.Start()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Stop(ctx); err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error naming the stuck component", err)
	}
}
