package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

func TestParkedReceiptsAreDroppedAndCountedAfterTheirWindow(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := newStore(t, store.WithClock(func() time.Time { return now }))
	code, to := "AAAA-00000000-0000000E", "+4915112000014"
	id := store.MustSMSID(t, s, code, to)
	direct(t, s, code, to)
	claim(t, s, id)
	rs := []sms.Receipt{{Provider: "p", Ref: "LOST", Status: sms.Delivered}, {Provider: "p", Ref: "LATE", Status: sms.Delivered}}
	if _, err := s.ApplyReceipts(ctx, rs, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Inside the window nothing is dropped; LATE's SMS shows up in it.
	if n, err := s.DropExpiredParked(ctx); err != nil || n != 0 {
		t.Fatalf("dropped %d (%v) inside the window", n, err)
	}
	if _, err := s.MarkSent(ctx, id, store.Outcome{Provider: "p", ProviderRef: "LATE", Segments: 1}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Second)
	if n, err := s.DropExpiredParked(ctx); err != nil || n != 1 {
		t.Fatalf("dropped %d (%v) after the window, want 1 (LOST; LATE was applied)", n, err)
	}
	if n, err := s.DroppedReceipts(ctx); err != nil || n != 1 {
		t.Fatalf("dropped counter %d (%v), want 1", n, err)
	}
	if n, _ := s.DropExpiredParked(ctx); n != 0 {
		t.Fatalf("dropped again: %d", n)
	}
	if got := counts(t, s, code); got[sms.Delivered] != 1 {
		t.Fatalf("counts %v", got)
	}
}

// TestOutcomeEventsFollowTheStatusMachine: each move to an outcome status
// appends one event, a replayed move none, and acknowledged events leave
// the stream.
func TestOutcomeEventsFollowTheStatusMachine(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.EnsureOutcomeGroup(ctx); err != nil {
		t.Fatal(err)
	}
	code, to := "AAAA-00000000-0000000F", "+4915112000015"
	id := store.MustSMSID(t, s, code, to)
	direct(t, s, code, to)
	claim(t, s, id)
	if _, err := s.MarkSent(ctx, id, store.Outcome{Provider: "p", ProviderRef: "RF", Segments: 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is a replay
		if _, err := s.ApplyReceipt(ctx, "p", "RF", sms.Undelivered, "30005"); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.ReadOutcomes(ctx, 0, "c1", 10, 10*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(evs), evs)
	}
	e := evs[0]
	if e.SMSID != id || e.Code != code || e.App != "SHOP1-00001" || e.Phone != to || e.Status != sms.Undelivered || e.Reason != "operator_undelivered: 30005" || e.Provider != "p" {
		t.Fatalf("event %+v", e)
	}
	// Unacknowledged, it is another relay's after the orphan time.
	again, err := s.ReadOutcomes(ctx, 0, "c2", 10, 10*time.Millisecond, 0)
	if err != nil || len(again) != 1 || again[0].StreamID != e.StreamID {
		t.Fatalf("claimed by another relay: %+v %v", again, err)
	}
	if err := s.AckOutcomes(ctx, again); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.OutcomeBacklog(ctx); n != 0 {
		t.Fatalf("backlog %d after the ack", n)
	}
	if evs, _ := s.ReadOutcomes(ctx, 0, "c3", 10, 10*time.Millisecond, 0); len(evs) != 0 {
		t.Fatalf("events after the ack: %+v", evs)
	}
}
