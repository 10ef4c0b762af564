package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestTwoProcessesSharingRedisDeriveTheSameIDs: two stores on one Redis
// stand for two processes of a fleet (an API pod and a worker pod). Each
// loads the key on its own; the SMS record one writes is found under the
// id the other derives, and a fleet on another Redis derives other ids.
func TestTwoProcessesSharingRedisDeriveTheSameIDs(t *testing.T) {
	ctx := context.Background()
	r := testenv.NewRedis(t)
	api := New(r.Client(t), time.Hour) // loads the key when it first needs it
	workerIDs, err := LoadIDs(ctx, r.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	worker := New(r.Client(t), time.Hour, WithIDs(workerIDs))
	const code, phone = "AAAA-00000000-00000001", "+4915112345678"
	m := &Message{App: "SHOP1-00001", Code: code, Type: sms.OTP, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10}
	if _, _, err := api.CreateMessage(ctx, m, []Audience{{Phones: []string{phone}, SendAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	stored, err := worker.GetMessage(ctx, "", code)
	if err != nil || stored.IDScheme != workerIDs.Scheme() || !workerIDs.Keyed() {
		t.Fatalf("stored scheme %q (%v), want the worker's %q", stored.IDScheme, err, workerIDs.Scheme())
	}
	id, err := worker.SMSID(ctx, stored, phone)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := worker.GetSMS(ctx, id); err != nil || rec.To != phone {
		t.Fatalf("the API's record is not under the worker's id %s: %+v %v", id, rec, err)
	}
	if legacy, _ := (sms.IDs{}).ID(code, phone, sms.LegacyIDs); id == legacy {
		t.Fatal("a new message got the legacy (unkeyed) id")
	}
	other := New(testenv.NewRedis(t).Client(t), time.Hour)
	if otherID, err := other.SMSIDOf(ctx, code, phone); err != nil || otherID == id {
		t.Fatalf("another fleet's key gave %s (%v), the same id", otherID, err)
	}
}

// TestLoadIDs: the first process creates the key, later ones read it;
// SMSFLEET_ID_SECRET seeds an empty Redis and a Redis holding another key
// stops the process.
func TestLoadIDs(t *testing.T) {
	ctx := context.Background()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	first, err := LoadIDs(ctx, rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadIDs(ctx, rdb, "")
	if err != nil || again.Scheme() != first.Scheme() {
		t.Fatalf("second load: %q %v, want %q", again.Scheme(), err, first.Scheme())
	}
	held, err := rdb.Get(ctx, keyIDKey).Result()
	if err != nil || len(held) != 64 {
		t.Fatalf("%s holds %d bytes (%v), want a 64-hex-digit key", keyIDKey, len(held), err)
	}
	if pinned, err := LoadIDs(ctx, rdb, held); err != nil || pinned.Scheme() != first.Scheme() {
		t.Fatalf("pinned to the key Redis holds: %q %v", pinned.Scheme(), err)
	}
	if _, err := LoadIDs(ctx, rdb, strings.Repeat("x", 32)); !errors.Is(err, ErrIDKeyMismatch) {
		t.Fatalf("pinned to another key: %v, want ErrIDKeyMismatch", err)
	}
	if _, err := LoadIDs(ctx, rdb, "short"); err == nil || !strings.Contains(err.Error(), "SMSFLEET_ID_SECRET") {
		t.Fatalf("a short secret: %v, want an error naming SMSFLEET_ID_SECRET", err)
	}
	// A pin seeds an empty Redis: a rebuilt Redis gets the same key back.
	rdb.Del(ctx, keyIDKey)
	pin := strings.Repeat("p", 40)
	seeded, err := LoadIDs(ctx, rdb, pin)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rdb.Get(ctx, keyIDKey).Result(); v != pin {
		t.Fatalf("%s = %q after seeding, want the pin", keyIDKey, v)
	}
	if unpinned, err := LoadIDs(ctx, rdb, ""); err != nil || unpinned.Scheme() != seeded.Scheme() {
		t.Fatalf("an unpinned process after a pinned one: %q %v", unpinned.Scheme(), err)
	}
}

// TestALegacyMessageKeepsItsLegacyIDs: a message accepted before keyed
// ids (no scheme recorded) is still mid fan-out after the upgrade; the new
// code must find and create its records under the legacy ids, or a re-run
// fan-out would enqueue every SMS again under a new task id.
func TestALegacyMessageKeepsItsLegacyIDs(t *testing.T) {
	ctx := context.Background()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	s := New(rdb, time.Hour)
	phones := []string{"+4915112000001", "+4915112000002", "+4915112000003"}
	m := &Message{App: "SHOP1-00001", Code: "LGCY-00000000-00000001", Type: sms.Marketing, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, ChunkSize: 2}
	if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: time.Now(), Phones: phones}}); err != nil {
		t.Fatal(err)
	}
	rdb.HDel(ctx, msgKey(m.Code), fIDScheme) // as the code before keyed ids wrote it
	legacy := make([]string, len(phones))
	for i, p := range phones {
		legacy[i], _ = (sms.IDs{}).ID(m.Code, p, sms.LegacyIDs)
	}
	// The first fan-out (before the upgrade) made the first record.
	old, err := s.GetMessage(ctx, "", m.Code)
	if err != nil || old.IDScheme != sms.LegacyIDs {
		t.Fatalf("legacy message scheme %q %v", old.IDScheme, err)
	}
	ids, _, err := s.Materialize(ctx, old, phones[:1], time.Now().Add(time.Hour))
	if err != nil || ids[0] != legacy[0] {
		t.Fatalf("materialize: %v %v, want %s", ids, err, legacy[0])
	}
	// The re-run after the upgrade finds it queued, makes the rest.
	ids, st, err := s.Materialize(ctx, old, phones, time.Now().Add(time.Hour))
	if err != nil || strings.Join(ids, ",") != strings.Join(legacy, ",") {
		t.Fatalf("materialize again: %v %v, want %v", ids, err, legacy)
	}
	if m2, _ := s.GetMessage(ctx, "", m.Code); m2.Counts[sms.Queued] != 3 || len(st) != 3 {
		t.Fatalf("counts %v, want 3 queued (each recipient once)", m2.Counts)
	}
	recs, _, err := s.Recipients(ctx, old, 0, 10)
	if err != nil || len(recs) != 3 || recs[2].ID != legacy[2] || recs[2].Status != sms.Queued {
		t.Fatalf("recipients %+v %v", recs, err)
	}
	if id, err := s.SMSIDOf(ctx, m.Code, phones[1]); err != nil || id != legacy[1] {
		t.Fatalf("SMSIDOf = %s %v, want %s", id, err, legacy[1])
	}
}

// TestAMessageOfAnotherKeyIsRefused: a process holding another key than
// the one a message was created with (Redis lost the key and a new one was
// made) refuses the message's ids rather than deriving new ones, and
// cancels nothing.
func TestAMessageOfAnotherKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	r := testenv.NewRedis(t)
	s := New(r.Client(t), time.Hour)
	phones := []string{"+4915112000001", "+4915112000002"}
	m := &Message{App: "SHOP1-00001", Code: "KEYA-00000000-00000001", Type: sms.Marketing, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, ChunkSize: 2}
	if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: time.Now(), Phones: phones}}); err != nil {
		t.Fatal(err)
	}
	otherIDs, _ := sms.NewIDs([]byte(strings.Repeat("o", 32)))
	other := New(r.Client(t), time.Hour, WithIDs(otherIDs))
	stored, err := other.GetMessage(ctx, "", m.Code)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Materialize(ctx, stored, phones, time.Now().Add(time.Hour)); !errors.Is(err, sms.ErrIDScheme) {
		t.Fatalf("materialize with another key: %v, want ErrIDScheme", err)
	}
	if _, err := other.CancelMessage(ctx, stored); !errors.Is(err, sms.ErrIDScheme) {
		t.Fatalf("cancel with another key: %v, want ErrIDScheme", err)
	}
	if after, _ := other.GetMessage(ctx, "", m.Code); after.Canceled || after.Counts[sms.Scheduled] != 2 {
		t.Fatalf("the refused process changed the message: %+v", after)
	}
}
