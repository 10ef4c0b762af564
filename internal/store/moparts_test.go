package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestMOParts files parts of long MO in a real Redis: each step is one
// AddMOPart (or a finish/release), with what it must report.
func TestMOParts(t *testing.T) {
	t.Parallel()
	type step struct {
		seq, total int
		coding     string
		data       string
		finish     bool // FinishMO instead of a part
		release    bool // ReleaseMO instead of a part
		advance    time.Duration
		want       store.MOState
		whole      string // with MOComplete: the parts joined
		restarted  bool
	}
	part := func(seq, total int, data string, want store.MOState) step {
		return step{seq: seq, total: total, coding: "0", data: data, want: want}
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			part(1, 3, "a", store.MOWaiting), part(2, 3, "b", store.MOWaiting),
			{seq: 3, total: 3, coding: "0", data: "c", want: store.MOComplete, whole: "abc"},
		}},
		{"out of order, a duplicate is idempotent", []step{
			part(3, 3, "c", store.MOWaiting), part(1, 3, "a", store.MOWaiting), part(1, 3, "A", store.MODuplicate),
			{seq: 2, total: 3, coding: "0", data: "b", want: store.MOComplete, whole: "abc"},
		}},
		{"handed on: late copies are duplicates", []step{
			part(1, 2, "a", store.MOWaiting),
			{seq: 2, total: 2, coding: "0", data: "b", want: store.MOComplete, whole: "ab"},
			{finish: true},
			part(2, 2, "b", store.MOHandedOn), part(1, 2, "a", store.MOHandedOn),
		}},
		{"leased: a racing copy of the last part is busy until released", []step{
			part(1, 2, "a", store.MOWaiting),
			{seq: 2, total: 2, coding: "0", data: "b", want: store.MOComplete, whole: "ab"},
			part(2, 2, "b", store.MOBusy),
			{release: true},
			{seq: 2, total: 2, coding: "0", data: "b", want: store.MOComplete, whole: "ab"},
		}},
		{"a lease that ran out is taken over", []step{
			part(1, 2, "a", store.MOWaiting),
			{seq: 2, total: 2, coding: "0", data: "b", want: store.MOComplete, whole: "ab"},
			{seq: 1, total: 2, coding: "0", data: "a", advance: time.Minute, want: store.MOComplete, whole: "ab"},
		}},
		{"another coding is refused", []step{
			part(1, 2, "a", store.MOWaiting),
			{seq: 2, total: 2, coding: "8", data: "\x00b", want: store.MOMismatch},
			{seq: 2, total: 2, coding: "0", data: "b", want: store.MOComplete, whole: "ab"},
		}},
		{"a reused reference restarts the message", []step{
			part(1, 3, "old", store.MOWaiting),
			{seq: 1, total: 2, coding: "0", data: "x", want: store.MOWaiting, restarted: true},
			{seq: 2, total: 2, coding: "0", data: "y", want: store.MOComplete, whole: "xy"},
		}},
		{"binary data survives", []step{
			part(1, 2, "\x00\xff\x1b", store.MOWaiting),
			{seq: 2, total: 2, coding: "0", data: "\x80", want: store.MOComplete, whole: "\x00\xff\x1b\x80"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			s := newStore(t, store.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
			ctx := context.Background()
			k := store.MOKey{Provider: "smsc", From: "+4915112345678", To: "12345", Ref: 7}
			for i, st := range tc.steps {
				mu.Lock()
				now = now.Add(st.advance)
				mu.Unlock()
				switch {
				case st.finish:
					if err := s.FinishMO(ctx, k, time.Hour); err != nil {
						t.Fatal(err)
					}
					continue
				case st.release:
					if err := s.ReleaseMO(ctx, k); err != nil {
						t.Fatal(err)
					}
					continue
				}
				res, err := s.AddMOPart(ctx, store.MOPart{MOKey: k, Seq: st.seq, Total: st.total, Coding: st.coding, Data: []byte(st.data),
					TTL: time.Hour, Lease: 30 * time.Second})
				if err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				var whole []string
				for _, p := range res.Parts {
					whole = append(whole, string(p))
				}
				if res.State != st.want || strings.Join(whole, "") != st.whole || res.Restarted != st.restarted {
					t.Fatalf("step %d: %s %q restarted=%v; want %s %q restarted=%v", i+1, res.State, whole, res.Restarted, st.want, st.whole, st.restarted)
				}
			}
		})
	}
}

// TestMOPartsKeyedApart: the provider, the sender, the recipient and the
// reference's width each make another message; every key has a TTL.
func TestMOPartsKeyedApart(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	base := store.MOKey{Provider: "smsc", From: "+1", To: "2", Ref: 7}
	keys := []store.MOKey{base,
		{Provider: "other", From: "+1", To: "2", Ref: 7}, {Provider: "smsc", From: "+3", To: "2", Ref: 7},
		{Provider: "smsc", From: "+1", To: "4", Ref: 7}, {Provider: "smsc", From: "+1", To: "2", Ref: 7, Ref16: true},
		{Provider: "smsc", From: "+1", To: "2", Ref: 8}}
	for _, k := range keys {
		res, err := s.AddMOPart(ctx, store.MOPart{MOKey: k, Seq: 1, Total: 2, Coding: "0", Data: []byte("x"), TTL: time.Hour, Lease: time.Minute})
		if err != nil || res.State != store.MOWaiting {
			t.Fatalf("%+v: %v %v, want a first part waiting", k, res.State, err)
		}
	}
	rdb := s.Redis()
	found, err := rdb.Keys(ctx, "sf:mo:*").Result()
	if err != nil || len(found) != len(keys) {
		t.Fatalf("keys %q (%v), want %d", found, err, len(keys))
	}
	for _, k := range found {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s: TTL %s, want within an hour", k, ttl)
		}
		if !strings.Contains(k, "{") || !strings.HasSuffix(k, "}") {
			t.Errorf("%s: no hash tag", k)
		}
	}
	if _, err := s.AddMOPart(ctx, store.MOPart{MOKey: base, Seq: 3, Total: 2, TTL: time.Hour, Lease: time.Minute}); err == nil {
		t.Error("part 3 of 2 filed")
	}
}
