package logging

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestErrorsAndWarningsAreNeverSampled: a storm of one error message is
// logged whole; the same storm at info is sampled.
func TestErrorsAndWarningsAreNeverSampled(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(SampleBelowWarn(core)).With(zap.String("role", "api"))
	const n = 1000
	for range n {
		log.Error("internal error")
		log.Warn("answering 503")
		log.Info("message accepted")
	}
	if got := logs.FilterMessage("internal error").Len(); got != n {
		t.Fatalf("%d of %d errors logged: errors must never be sampled", got, n)
	}
	if got := logs.FilterMessage("answering 503").Len(); got != n {
		t.Fatalf("%d of %d warnings logged: warnings must never be sampled", got, n)
	}
	if got := logs.FilterMessage("message accepted").Len(); got >= n || got < SampleFirst {
		t.Fatalf("%d of %d info lines logged: want them sampled, the first %d kept", got, n, SampleFirst)
	}
}

// TestNewBuildsEveryFormat: the production builder still builds.
func TestNewBuildsEveryFormat(t *testing.T) {
	for _, f := range []string{"json", "console"} {
		if _, err := New("info", f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := New("loud", "json"); err == nil {
		t.Fatal("a bad level was accepted")
	}
}

// TestRateLimitedDropsRepeats: asynq's loop logging the same failure many
// times a second becomes one line per interval, the dropped repeats
// counted on the next; other messages and levels pass on their own.
func TestRateLimitedDropsRepeats(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rl := NewRateLimited(zap.New(core), 10*time.Second, func() time.Time { return now })
	for i := range 200 {
		rl.Error("Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused (attempt ", i, ")")
	}
	rl.Error("Failed to write server state data: connection refused")
	rl.Warn("Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused (attempt 1)")
	if got := logs.Len(); got != 3 {
		t.Fatalf("%d lines logged, want 3 (one per distinct message and level): %v", got, logs.All())
	}
	if rl.Dropped() != 199 {
		t.Fatalf("dropped %d, want 199", rl.Dropped())
	}
	if logs.All()[0].Stack != "" {
		t.Fatal("an asynq error carries a stack trace")
	}
	now = now.Add(10 * time.Second)
	rl.Error("Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused (attempt 7)")
	last := logs.All()[logs.Len()-1]
	if logs.Len() != 4 || last.ContextMap()["repeats_dropped"] != int64(199) {
		t.Fatalf("after the interval: %d lines, last %+v; want the message again with repeats_dropped 199", logs.Len(), last.ContextMap())
	}
}
