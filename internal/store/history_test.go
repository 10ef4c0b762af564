package store

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestHistoryKeyShared: two stores on one Redis (two API pods) get the one
// key the first created, and it survives a restart of either.
func TestHistoryKeyShared(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	a, b := New(r.Client(t), time.Hour), New(r.Client(t), time.Hour)
	ka, err := a.HistoryKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.HistoryKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ka) != historyKeyBytes || !bytes.Equal(ka, kb) {
		t.Fatalf("keys differ or have the wrong size: %x / %x", ka, kb)
	}
	again, err := New(r.Client(t), time.Hour).HistoryKey(ctx)
	if err != nil || !bytes.Equal(again, ka) {
		t.Fatalf("a new process reads another key: %x %v", again, err)
	}
	// A key that is not one is refused with what to do.
	r.Client(t).Set(ctx, keyHistoryKey, "not-hex", 0)
	if _, err := a.HistoryKey(ctx); err == nil {
		t.Fatal("a garbled key was accepted")
	}
}

// TestPhoneIndex writes SMS of two applications to one phone and pages
// through one application's: newest first, no entry lost or repeated at a
// page boundary inside one millisecond, nothing of the other application,
// nothing past the retention, and the key expires with the retention.
func TestPhoneIndex(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	const shop, bank, phone = "SHOP1-00001", "BANK1-00002", "+4915112000001"
	// Seven SMS: one per minute, except that s3, s4 and s5 share a millisecond.
	at := []time.Duration{-7, -6, -5, -4, -4, -4, -1}
	var entries []PhoneEntry
	for i, d := range at {
		entries = append(entries, PhoneEntry{Phone: phone, ID: fmt.Sprintf("s%d", i), At: now.Add(d * time.Minute)})
	}
	// One past the retention: never indexed, never listed.
	entries = append(entries, PhoneEntry{Phone: phone, ID: "old", At: now.Add(-25 * time.Hour)})
	// And one indexed a day before (another clock reading): trimmed now.
	earlier := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now.Add(-23 * time.Hour) }))
	if err := earlier.IndexPhones(ctx, shop, []PhoneEntry{{Phone: phone, ID: "trimmed", At: now.Add(-24*time.Hour - time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexPhones(ctx, shop, entries); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexPhones(ctx, bank, []PhoneEntry{{Phone: phone, ID: "bank", At: now}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		pages [][]string
	}{
		{10, [][]string{{"s6", "s5", "s4", "s3", "s2", "s1", "s0"}}},
		{3, [][]string{{"s6", "s5", "s4", "s3"}, {"s2", "s1", "s0"}}}, // the shared millisecond stays whole
		{2, [][]string{{"s6", "s5", "s4", "s3"}, {"s2", "s1"}, {"s0"}}},
		{1, [][]string{{"s6"}, {"s5", "s4", "s3"}, {"s2"}, {"s1"}, {"s0"}}},
	} {
		var got [][]string
		cursor := int64(0)
		for {
			ids, next, err := s.SMSByPhone(ctx, shop, phone, tc.limit, cursor)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids)
			if next == 0 {
				break
			}
			if len(got) > 10 {
				t.Fatalf("limit %d: paging does not end: %v", tc.limit, got)
			}
			cursor = next
		}
		if !reflect.DeepEqual(got, tc.pages) {
			t.Errorf("limit %d: pages %v, want %v", tc.limit, got, tc.pages)
		}
	}
	ids, _, err := s.SMSByPhone(ctx, bank, phone, 10, 0)
	if err != nil || !reflect.DeepEqual(ids, []string{"bank"}) {
		t.Errorf("bank's index: %v %v", ids, err)
	}
	if n, _ := r.Client(t).ZCard(ctx, s.k.phoneIndex(shop, phone)).Result(); n != 7 {
		t.Errorf("the entries past the retention were kept: %d entries", n)
	}
	if ttl, _ := r.Client(t).TTL(ctx, s.k.phoneIndex(shop, phone)).Result(); ttl <= 0 || ttl > 24*time.Hour {
		t.Errorf("index TTL %s, want within the retention (24h)", ttl)
	}
	if _, _, err := s.SMSByPhone(ctx, shop, phone, 0, 0); err == nil {
		t.Error("limit 0 accepted")
	}
}

// TestPhoneIndexOneRoundTrip: IndexPhones of many phones is one round trip
// (one pipeline, counted by a go-redis hook).
func TestPhoneIndexOneRoundTrip(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	rdb := r.Client(t)
	var trips roundTrips
	rdb.AddHook(&trips)
	s := New(rdb, time.Hour)
	var entries []PhoneEntry
	for i := range 50 {
		entries = append(entries, PhoneEntry{Phone: fmt.Sprintf("+49151120000%02d", i%10), ID: fmt.Sprint(i), At: time.Now()})
	}
	if err := s.IndexPhones(ctx, "SHOP1-00001", entries); err != nil {
		t.Fatal(err)
	}
	// 50 ZADD, then one trim and one EXPIRE per phone (10 phones).
	if trips.pipelines != 1 || trips.single != 0 || trips.cmds != 70 {
		t.Errorf("%d pipelines, %d single commands, %d pipelined commands; want 1, 0, 70", trips.pipelines, trips.single, trips.cmds)
	}
}

// handshake names what go-redis sends on a new connection by itself.
var handshake = map[string]bool{"hello": true, "client": true, "auth": true, "select": true}

// roundTrips counts what a client sends, but for connection handshakes.
type roundTrips struct{ pipelines, single, cmds int }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake[cmd.Name()] {
			h.single++
		}
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !handshake[cmds[0].Name()] {
			h.pipelines++
			h.cmds += len(cmds)
		}
		return next(ctx, cmds)
	}
}
