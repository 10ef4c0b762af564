package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func newStore(t *testing.T, opts ...store.Option) *store.Store {
	t.Helper()
	r := testenv.NewRedis(t)
	s := store.New(r.Client(t), 24*time.Hour, opts...)
	if err := s.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func direct(t *testing.T, s *store.Store, code, to string) {
	t.Helper()
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"hi"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10}
	if _, created, err := s.CreateMessage(context.Background(), m, audience(to)); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
}

// audience is one group of phones due now.
func audience(phones ...string) []store.Audience {
	return []store.Audience{{Zone: "UTC", SendAt: time.Now(), Phones: phones}}
}

// claim loads and begins an SMS as the worker does.
func claim(t *testing.T, s *store.Store, id string) (int, sms.Status, bool) {
	t.Helper()
	l, ok, err := s.LoadSMS(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0, l.Status, false
	}
	n, _, ok, err := s.Begin(context.Background(), id, l)
	if err != nil {
		t.Fatal(err)
	}
	return n, sms.Sending, ok
}

func counts(t *testing.T, s *store.Store, code string) map[sms.Status]int64 {
	t.Helper()
	m, err := s.GetMessage(context.Background(), "", code)
	if err != nil {
		t.Fatal(err)
	}
	return m.Counts
}

func TestReplayedTransitionsCountOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	code, to := "AAAA-00000000-00000001", "+4915112000001"
	id := store.MustSMSID(t, s, code, to)
	direct(t, s, code, to)

	if _, _, ok := claim(t, s, id); !ok {
		t.Fatal("claim refused")
	}
	for i := range 3 { // an asynq redelivery replays the result
		moved, err := s.MarkSent(ctx, id, store.Outcome{Provider: "p", ProviderRef: "R1", Segments: 1})
		if err != nil || moved != (i == 0) {
			t.Fatalf("MarkSent #%d: moved=%v err=%v", i, moved, err)
		}
	}
	if moved, _ := s.MarkFailed(ctx, id, store.Outcome{Error: "late"}); moved {
		t.Fatal("a sent SMS moved to failed")
	}
	if _, st, ok := claim(t, s, id); ok || st != sms.Sent {
		t.Fatalf("claim of a sent SMS: ok=%v status=%s", ok, st)
	}
	got := counts(t, s, code)
	if got[sms.Sent] != 1 || got[sms.Queued] != 0 || got[sms.Sending] != 0 || got[sms.Failed] != 0 {
		t.Fatalf("counts %v, want sent 1 only", got)
	}
	rec, err := s.GetSMS(ctx, id)
	if err != nil || rec.ProviderRef != "R1" || rec.Attempts != 1 {
		t.Fatalf("record %+v %v", rec, err)
	}
	m, _ := s.GetMessage(ctx, "", code)
	if m.Hourly["send"][time.Now().UTC().Format("2006010215")] != 1 {
		t.Fatalf("hourly send bucket %v", m.Hourly)
	}
}

func TestMaterializeIsIdempotentUnderConcurrency(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	code := "AAAA-00000000-00000002"
	phones := []string{"+4915112000001", "+4915112000002", "+4915112000003"}
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Marketing, Content: `"x"`, SendAt: time.Now().Add(time.Hour), ChunkSize: 2}
	if _, _, err := s.CreateMessage(ctx, m, audience(phones...)); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, s, code); got[sms.Scheduled] != 3 {
		t.Fatalf("counts %v", got)
	}
	var wg sync.WaitGroup
	for range 8 { // eight fan-outs at once: each recipient materializes once
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Materialize(ctx, *m, phones, time.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := counts(t, s, code); got[sms.Queued] != 3 || got[sms.Scheduled] != 0 {
		t.Fatalf("counts %v, want 3 queued", got)
	}
	chunk, err := s.RecipientChunk(ctx, code, 1)
	if err != nil || len(chunk) != 1 || chunk[0] != phones[2] {
		t.Fatalf("chunk 1 = %v %v", chunk, err)
	}
}

func TestConcurrentClaimsTakeAQueuedSMSOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	code, to := "AAAA-00000000-00000003", "+4915112000003"
	direct(t, s, code, to)
	id := store.MustSMSID(t, s, code, to)
	var wg sync.WaitGroup
	var mu sync.Mutex
	attempts := map[int]bool{}
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, ok, err := s.LoadSMS(ctx, id)
			if err != nil || !ok {
				t.Errorf("load: %v %v", ok, err)
				return
			}
			n, _, ok, err := s.Begin(ctx, id, l)
			if err != nil || !ok {
				t.Errorf("begin: %v %v", ok, err)
				return
			}
			mu.Lock()
			attempts[n] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(attempts) != 10 {
		t.Fatalf("attempt numbers %v: two claims saw the same attempt", attempts)
	}
	if got := counts(t, s, code); got[sms.Sending] != 1 || got[sms.Queued] != 0 {
		t.Fatalf("counts %v, want sending 1 (the queued→sending move counted once)", got)
	}
}

func TestTransactionIDReturnsFirstMessage(t *testing.T) {
	for _, l := range testLayouts {
		t.Run(l.String(), func(t *testing.T) { transactionIDReturnsFirst(t, newStore(t, store.WithLayout(l))) })
	}
}

func transactionIDReturnsFirst(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mk := func(code string) (string, bool) {
		m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), TransactionID: "t-1", Direct: true, ChunkSize: 10}
		got, created, err := s.CreateMessage(ctx, m, audience("+4915112000009"))
		if err != nil {
			t.Fatal(err)
		}
		return got, created
	}
	if c, created := mk("AAAA-00000000-00000004"); !created || c != "AAAA-00000000-00000004" {
		t.Fatalf("first: %s %v", c, created)
	}
	if c, created := mk("AAAA-00000000-00000005"); created || c != "AAAA-00000000-00000004" {
		t.Fatalf("replay: %s %v, want the first code and nothing created", c, created)
	}
	if _, err := s.GetMessage(ctx, "", "AAAA-00000000-00000005"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the replayed request wrote a message: %v", err)
	}
}

func TestDevicesAndUsers(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	app := "SHOP1-00001"
	reg := func(phone, user string, tags map[string]json.RawMessage) {
		if _, err := s.RegisterDevice(ctx, app, store.Device{Phone: phone, UserID: user, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	reg("+4915112000001", "alice", map[string]json.RawMessage{"City": json.RawMessage(`"Berlin"`)})
	reg("+4915112000002", "alice", nil)
	reg("+4915112000003", "", nil) // no user id: its own phone, as Pushwoosh does
	reg("+4915112000002", "bob", nil)
	got, err := s.PhonesOfUsers(ctx, app, []string{"alice", "bob", "+4915112000003", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"+4915112000001"}, {"+4915112000002"}, {"+4915112000003"}, nil}
	for i := range want {
		if len(got[i]) != len(want[i]) || (len(want[i]) > 0 && got[i][0] != want[i][0]) {
			t.Fatalf("users resolve to %v, want %v", got, want)
		}
	}
	if err := s.SetTags(ctx, app, "+4915112000001", map[string]json.RawMessage{"City": json.RawMessage("null"), "Plan": json.RawMessage(`"gold"`)}); err != nil {
		t.Fatal(err)
	}
	d, err := s.GetDevice(ctx, app, "+4915112000001")
	if err != nil || string(d.Tags["Plan"]) != `"gold"` || d.Tags["City"] != nil || d.UserID != "alice" {
		t.Fatalf("device %+v %v", d, err)
	}
	if err := s.SetTags(ctx, "BANK1-00002", "+4915112000001", map[string]json.RawMessage{"x": json.RawMessage(`1`)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another application's device was tagged: %v", err)
	}
	if ok, _ := s.UnregisterDevice(ctx, app, "+4915112000001"); !ok {
		t.Fatal("unregister")
	}
	known, _ := s.KnownPhones(ctx, app, []string{"+4915112000001", "+4915112000002"})
	if known[0] || !known[1] {
		t.Fatalf("known %v", known)
	}
	if got, _ := s.PhonesOfUsers(ctx, app, []string{"alice"}); len(got[0]) != 0 {
		t.Fatalf("unregistered phone still resolves from alice: %v", got)
	}
}

func TestScriptsSurviveAScriptFlush(t *testing.T) {
	r := testenv.NewRedis(t)
	c := r.Client(t)
	s := store.New(c, 24*time.Hour)
	ctx := context.Background()
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Pipelined EVALSHA meets NOSCRIPT, reloads and runs again.
	code := "AAAA-00000000-00000006"
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), ChunkSize: 10}
	if _, _, err := s.CreateMessage(ctx, m, audience("+4915112000001", "+4915112000002")); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	_, st, err := s.Materialize(ctx, *m, []string{"+4915112000001", "+4915112000002"}, time.Now().Add(time.Hour))
	if err != nil || len(st) != 2 || st[0] != sms.Queued {
		t.Fatalf("materialize after SCRIPT FLUSH: %v %v", st, err)
	}
}

func TestApplyReceipt(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	code, to := "AAAA-00000000-00000007", "+4915112000007"
	id := store.MustSMSID(t, s, code, to)
	direct(t, s, code, to)
	if _, _, ok := claim(t, s, id); !ok {
		t.Fatal("claim refused")
	}
	if _, err := s.ApplyReceipt(ctx, "smsc", "R7", sms.Delivered, ""); !errors.Is(err, store.ErrUnknownRef) {
		t.Fatalf("receipt before sent: %v, want ErrUnknownRef", err)
	}
	if _, err := s.MarkSent(ctx, id, store.Outcome{Provider: "smsc", ProviderRef: "R7", Segments: 1}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} { // a redelivered receipt moves nothing
		moved, err := s.ApplyReceipt(ctx, "smsc", "R7", sms.Delivered, "")
		if err != nil || moved != want {
			t.Fatalf("receipt %d: moved=%v err=%v", i, moved, err)
		}
	}
	if moved, _ := s.ApplyReceipt(ctx, "smsc", "R7", sms.Undelivered, "001"); moved {
		t.Fatal("a late undelivered receipt moved a delivered SMS")
	}
	got := counts(t, s, code)
	if got[sms.Delivered] != 1 || got[sms.Sent] != 0 {
		t.Fatalf("counts %v, want delivered 1", got)
	}
	m, _ := s.GetMessage(ctx, "", code)
	if m.Hourly["delivery"][time.Now().UTC().Format("2006010215")] != 1 {
		t.Fatalf("hourly delivery %v", m.Hourly)
	}
	// The same reference at another provider is another SMS.
	if _, err := s.ApplyReceipt(ctx, "other", "R7", sms.Delivered, ""); !errors.Is(err, store.ErrUnknownRef) {
		t.Fatalf("another provider's ref: %v", err)
	}
	// Undelivered keeps the provider's error code.
	code2, to2 := "AAAA-00000000-00000008", "+4915112000008"
	id2 := store.MustSMSID(t, s, code2, to2)
	direct(t, s, code2, to2)
	claim(t, s, id2)
	_, _ = s.MarkSent(ctx, id2, store.Outcome{Provider: "smsc", ProviderRef: "R8"})
	if moved, err := s.ApplyReceipt(ctx, "smsc", "R8", sms.Undelivered, "0x0000000B"); !moved || err != nil {
		t.Fatalf("undelivered: %v %v", moved, err)
	}
}

// testLayouts are the key layouts the store's behaviour is checked in.
var testLayouts = []store.Layout{store.PlainLayout, {Tagged: true, Partitions: 16}}

func TestReceiptBeforeSentIsParkedAndApplied(t *testing.T) {
	for _, l := range testLayouts {
		t.Run(l.String(), func(t *testing.T) { receiptBeforeSent(t, newStore(t, store.WithLayout(l))) })
	}
}

func receiptBeforeSent(t *testing.T, s *store.Store) {
	ctx := context.Background()
	code, to := "AAAA-00000000-00000009", "+4915112000009"
	id := store.MustSMSID(t, s, code, to)
	direct(t, s, code, to)
	claim(t, s, id)
	// The provider's receipt overtakes our sent write.
	res, err := s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R9", Status: sms.Delivered}}, time.Hour)
	if err != nil || res[0] != store.ReceiptUnknown {
		t.Fatalf("early receipt: %v %v", res, err)
	}
	if _, err := s.MarkSent(ctx, id, store.Outcome{Provider: "p", ProviderRef: "R9", Segments: 1}); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, s, code); got[sms.Delivered] != 1 || got[sms.Sent] != 0 {
		t.Fatalf("counts %v: the parked receipt was not applied with the sent write", got)
	}
	res, _ = s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R9", Status: sms.Delivered}}, time.Hour)
	if res[0] != store.ReceiptDuplicate {
		t.Fatalf("replay after parking: %v", res)
	}
}

// TestHourlyOutcomeCounters: each final outcome counts in its message's
// hourly counter, the Message History chart's series: delivered as
// Pushwoosh's "delivery", undelivered and failed under their own names.
func TestHourlyOutcomeCounters(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	hour := time.Now().UTC().Format("2006010215")
	for i, tc := range []struct {
		end  sms.Status
		want map[string]int64
	}{
		{sms.Delivered, map[string]int64{"send": 1, "delivery": 1}},
		{sms.Undelivered, map[string]int64{"send": 1, "undelivered": 1}},
		{sms.Failed, map[string]int64{"failed": 1}},
	} {
		code, to := "AAAA-00000000-0000003"+strconv.Itoa(i), "+491511200003"+strconv.Itoa(i)
		direct(t, s, code, to)
		id := store.MustSMSID(t, s, code, to)
		if _, _, ok := claim(t, s, id); !ok {
			t.Fatal("claim refused")
		}
		if tc.end == sms.Failed {
			if moved, err := s.MarkFailed(ctx, id, store.Outcome{Error: "rejected"}); err != nil || !moved {
				t.Fatalf("fail: %v %v", moved, err)
			}
		} else {
			ref := "R3" + strconv.Itoa(i)
			if _, err := s.MarkSent(ctx, id, store.Outcome{Provider: "smsc", ProviderRef: ref, Segments: 1}); err != nil {
				t.Fatal(err)
			}
			if moved, err := s.ApplyReceipt(ctx, "smsc", ref, tc.end, ""); err != nil || !moved {
				t.Fatalf("receipt %s: %v %v", tc.end, moved, err)
			}
		}
		m, err := s.GetMessage(ctx, "", code)
		if err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{"send", "delivery", "undelivered", "failed"} {
			if got := m.Hourly[action][hour]; got != tc.want[action] {
				t.Errorf("%s: hourly %s = %d, want %d (%v)", tc.end, action, got, tc.want[action], m.Hourly)
			}
		}
	}
}
