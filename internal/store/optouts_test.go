package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestOptOutRecords drives one phone's opt-outs in two applications
// through every writer (the API, the phone's STOP and START) on a real
// Redis, starting from a legacy opt-out as a version before the records
// left it, and checks the records after each step: who set each and its
// scope, that the API cannot remove what the phone set, that a START
// undoes only the phone's own STOP, and that nothing crosses applications.
func TestOptOutRecords(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	const shop, bank, phone = "SHOP1-00001", "BANK1-00002", "+4915112000001"
	legacyAt := now.Add(-time.Hour)
	if err := r.Client(t).ZAdd(ctx, optOutKey(shop), redis.Z{Score: float64(legacyAt.UnixMilli()), Member: phone}).Err(); err != nil {
		t.Fatal(err)
	}
	legacy := OptOutRecord{By: SetByLegacy, At: legacyAt}
	stopShop := func(at time.Time) OptOutRecord {
		return OptOutRecord{Sender: "SHOP", By: SetByPhone, At: at, Provider: "sim-a"}
	}
	reply := func(start bool, sender string, apps ...string) func() error {
		return func() error {
			_, err := s.ApplyReply(ctx, Reply{Phone: phone, Sender: sender, Provider: "sim-a", Start: start, Apps: apps})
			return err
		}
	}
	remove := func(sender string) func() error {
		return func() error { _, err := s.RemoveOptOut(ctx, shop, phone, sender); return err }
	}
	add := func(sender string) func() error {
		return func() error { _, err := s.AddOptOut(ctx, shop, phone, sender); return err }
	}
	at := func(step int) time.Time { return legacyAt.Add(time.Hour + time.Duration(step)*time.Minute) } // the clock moves a minute a step
	t1 := at(1)
	steps := []struct {
		name      string
		run       func() error
		wantErr   error
		shop      []OptOutRecord
		bankEmpty bool
	}{
		{"a legacy opt-out reads as one of the whole application", func() error { return nil }, nil, []OptOutRecord{legacy}, true},
		{"the phone's STOP to the shop's sender keeps the legacy one beside it", reply(false, "SHOP", shop), nil,
			[]OptOutRecord{legacy, stopShop(t1)}, true},
		{"the API may not remove all while the phone's STOP stands; nothing goes", remove(""), ErrSetByPhone,
			[]OptOutRecord{legacy, stopShop(t1)}, true},
		{"nor the phone's STOP itself", remove("SHOP"), ErrSetByPhone, []OptOutRecord{legacy, stopShop(t1)}, true},
		{"the API may remove the legacy one", remove("*"), nil, []OptOutRecord{stopShop(t1)}, true},
		{"a repeated STOP keeps its first time", reply(false, "SHOP", shop), nil, []OptOutRecord{stopShop(t1)}, true},
		{"a START to another application's sender changes nothing here", reply(true, "BANK", bank), nil, []OptOutRecord{stopShop(t1)}, true},
		{"the API's own opt-out of the whole application", add(""), nil,
			[]OptOutRecord{{By: SetByAPI, At: at(7)}, stopShop(t1)}, true},
		{"the phone's START undoes its STOP, not the API's opt-out", reply(true, "SHOP", shop), nil,
			[]OptOutRecord{{By: SetByAPI, At: at(7)}}, true},
		{"the API removes its own", remove(""), nil, nil, true},
		{"the API scopes an opt-out to a sender", add("SHOP"), nil, []OptOutRecord{{Sender: "SHOP", By: SetByAPI, At: at(10)}}, true},
		{"a STOP to that sender makes it the phone's", reply(false, "SHOP", shop), nil, []OptOutRecord{stopShop(at(11))}, true},
		{"which the API then cannot remove", remove("SHOP"), ErrSetByPhone, []OptOutRecord{stopShop(at(11))}, true},
		{"an API opt-out where the phone's stands changes nothing", add("SHOP"), nil, []OptOutRecord{stopShop(at(11))}, true},
		{"START undoes it", reply(true, "SHOP", shop), nil, nil, true},
		{"the API cannot remove what is not there", remove(""), nil, nil, true},
		{"a STOP to a sender both send from: both, in one step", reply(false, "12345", shop, bank), nil,
			[]OptOutRecord{{Sender: "12345", By: SetByPhone, At: at(16), Provider: "sim-a"}}, false},
		{"a START to it: neither", reply(true, "12345", shop, bank), nil, nil, true},
	}
	base := now
	for i, st := range steps {
		now = base.Add(time.Duration(i) * time.Minute)
		if err := st.run(); !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: error %v, want %v", st.name, err, st.wantErr)
		}
		got, err := s.GetOptOut(ctx, shop, phone)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Records, st.shop) {
			t.Fatalf("%s: shop records\n%+v, want\n%+v", st.name, got.Records, st.shop)
		}
		list, _, err := s.ListOptOuts(ctx, shop, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if (len(list) == 1) != (len(st.shop) > 0) || len(list) == 1 && !reflect.DeepEqual(list[0].Records, st.shop) {
			t.Fatalf("%s: list %+v, want the records %+v", st.name, list, st.shop)
		}
		if b, _ := s.GetOptOut(ctx, bank, phone); (len(b.Records) == 0) != st.bankEmpty {
			t.Fatalf("%s: bank records %+v", st.name, b.Records)
		}
	}
	if n, err := r.Client(t).Exists(ctx, optOutKey(shop), optOutRecordKey(shop, phone), optOutKey(bank), optOutRecordKey(bank, phone)).Result(); err != nil || n != 0 {
		t.Fatalf("keys left after the last opt-out went: %d %v", n, err)
	}
}

// TestSetByPhoneErrorSaysWhat: the API's refusal names the sender, time
// and provider of the phone's STOP and how it can be undone.
func TestSetByPhoneErrorSaysWhat(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	if _, err := s.ApplyReply(ctx, Reply{Phone: "+4915112000002", Sender: "+4930123456", Provider: "tw", Apps: []string{"SHOP1-00001"}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.RemoveOptOut(ctx, "SHOP1-00001", "+4915112000002", "")
	want := "opted out by the phone (STOP to +4930123456 at 2026-03-02T12:00:00Z through tw): only the phone can undo it, by replying START to the same sender"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestUnmatchedRepliesAreBounded: the unmatched stream keeps the newest
// UnmatchedMax replies and none older than UnmatchedRetention, and expires
// when idle.
func TestUnmatchedRepliesAreBounded(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	for i := range UnmatchedMax + 5 {
		if err := s.AddUnmatched(ctx, UnmatchedReply{Provider: "gw", From: fmt.Sprintf("+49151%08d", i), To: "+4930000000", Keyword: "stop"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Client(t).XLen(ctx, keyUnmatched).Val(); n != UnmatchedMax {
		t.Fatalf("%d entries, want at most %d", n, UnmatchedMax)
	}
	got, err := s.ListUnmatched(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := UnmatchedReply{At: now, Provider: "gw", From: fmt.Sprintf("+49151%08d", UnmatchedMax+4), To: "+4930000000", Keyword: "stop"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("newest %+v, want %+v", got, want)
	}
	if ttl := r.Client(t).PTTL(ctx, keyUnmatched).Val(); ttl <= 0 || ttl > UnmatchedRetention {
		t.Fatalf("TTL %s, want at most %s", ttl, UnmatchedRetention)
	}
	now = now.Add(UnmatchedRetention + time.Minute)
	if err := s.AddUnmatched(ctx, UnmatchedReply{Provider: "gw", From: "+4915199999999", To: "SHOP", Keyword: "start"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ListUnmatched(ctx, 10); err != nil || len(got) != 1 || got[0].From != "+4915199999999" {
		t.Fatalf("after the retention: %+v %v, want only the new one", got, err)
	}
}
