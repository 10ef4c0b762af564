package store

import (
	"context"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestAdmitAnswerSlidingWindow: at most max answers per (application,
// phone, keyword) in any window; the same reply id keeps its decision
// (a redelivery spends no second slot); other phones, keywords and
// applications have their own windows; the key expires with the window.
func TestAdmitAnswerSlidingWindow(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	const app, phone = "SHOP1-00001", "+4915100000001"
	admit := func(app, phone, kw, id string) bool {
		t.Helper()
		ok, err := s.AdmitAnswer(ctx, app, phone, kw, id, 2, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	steps := []struct {
		advance        time.Duration
		app, phone, kw string
		id             string
		want           bool
	}{
		{0, app, phone, "help", "r1", true},
		{0, app, phone, "help", "r1", true}, // the same reply again: same decision, no second slot
		{time.Minute, app, phone, "help", "r2", true},
		{time.Minute, app, phone, "help", "r3", false}, // third in 10 minutes
		{0, app, phone, "help", "r3", false},
		{0, app, phone, "stop", "r4", true},               // another keyword
		{0, app, "+4915100000002", "help", "r5", true},    // another phone
		{0, "OTHER-00001", phone, "help", "r6", true},     // another application
		{8 * time.Minute, app, phone, "help", "r7", true}, // r1 left the window (10 min after it)
		{0, app, phone, "help", "r8", false},              // r2 and r7 fill it
		{0, app, phone, "help", "r1", false},              // r1 is gone from the window: it is a new ask
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		if got := admit(st.app, st.phone, st.kw, st.id); got != st.want {
			t.Fatalf("step %d (%s %s %s %s): admitted %v, want %v", i, st.app, st.phone, st.kw, st.id, got, st.want)
		}
	}
	k := s.k.answerThrottle(app, phone, "help")
	if n := r.Client(t).ZCard(ctx, k).Val(); n != 2 {
		t.Fatalf("%s holds %d ids, want at most max (2)", k, n)
	}
	if ttl := r.Client(t).PTTL(ctx, k).Val(); ttl <= 0 || ttl > 10*time.Minute {
		t.Fatalf("%s: TTL %s, want within the window", k, ttl)
	}
	if _, err := s.AdmitAnswer(ctx, app, phone, "help", "r9", 0, time.Minute); err == nil {
		t.Fatal("max 0 was accepted")
	}
}
