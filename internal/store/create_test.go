package store

import (
	"context"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestCreateCrashBetweenSteps: a create that died after its application
// step left a list entry and a transactionId mapping but no message.
// Listing skips the entry without dropping it, and the client's retry
// (a new request, so a new code) creates the message under the mapped
// code.
func TestCreateCrashBetweenSteps(t *testing.T) {
	for _, l := range []Layout{PlainLayout, {Tagged: true, Partitions: 16}} {
		t.Run(l.String(), func(t *testing.T) {
			r := testenv.NewRedis(t)
			ctx := context.Background()
			s := New(r.Client(t), 24*time.Hour, WithLayout(l))
			const app = "SHOP1-00001"
			req := func(code string) *Message {
				return &Message{App: app, Code: code, Type: sms.OTP, Content: `"hi"`, SendAt: time.Now(), Validity: time.Hour,
					Direct: true, ChunkSize: 10, TransactionID: "txn-1"}
			}
			aud := []Audience{{Zone: "UTC", SendAt: time.Now(), Phones: []string{"+4915100000001"}}}

			// The first request's application step, then the crash.
			p, err := s.planCreate(ctx, req("CRSH-00000000-00000001"), aud)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.runCalls(ctx, []*scriptCall{s.appCall(p)}, false); err != nil {
				t.Fatal(err)
			}
			msgs, _, err := s.ListMessages(ctx, app, 10, 0)
			if err != nil || len(msgs) != 0 {
				t.Fatalf("list during the gap: %v %v, want nothing", msgs, err)
			}
			if n, _ := s.rdb.ZCard(ctx, s.k.msgList(app)).Result(); n != 1 {
				t.Fatalf("the list entry of a message not written yet was dropped (%d entries)", n)
			}

			// The retry.
			m := req("CRSH-00000000-00000002")
			code, created, err := s.CreateMessage(ctx, m, aud)
			if err != nil || !created || code != "CRSH-00000000-00000001" {
				t.Fatalf("retry: %s %v %v, want the first code created now", code, created, err)
			}
			if m.ReplayPending {
				t.Error("a message created now is no pending replay")
			}
			got, err := s.GetMessage(ctx, app, code)
			if err != nil || got.To != "+4915100000001" {
				t.Fatalf("message after the retry: %+v %v", got, err)
			}
			if due, _ := s.OutboxDue(ctx, s.k.partitionOf(code), time.Now().Add(time.Hour), 10); len(due) != 1 || due[0] != code {
				t.Fatalf("outbox %v, want the message", due)
			}
			if msgs, _, _ := s.ListMessages(ctx, app, 10, 0); len(msgs) != 1 || msgs[0].Code != code {
				t.Fatalf("list after the retry: %v", msgs)
			}
			// A second replay creates nothing and reports the enqueue pending.
			m = req("CRSH-00000000-00000003")
			code, created, err = s.CreateMessage(ctx, m, aud)
			if err != nil || created || code != "CRSH-00000000-00000001" || !m.ReplayPending {
				t.Fatalf("replay: %s %v %v pending %v", code, created, err, m.ReplayPending)
			}
		})
	}
}

// TestSentWriteRetriedAfterItsMove: a sent write whose reference step
// failed (the SMS moved, its reference unknown, a receipt parked for it)
// is retried by the worker: the retry indexes the reference and applies
// the parked receipt.
func TestSentWriteRetriedAfterItsMove(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	s := New(r.Client(t), 24*time.Hour, WithLayout(Layout{Tagged: true, Partitions: 16}))
	m := &Message{App: "SHOP1-00001", Code: "RTRY-00000000-00000001", Type: sms.OTP, Content: `"hi"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10}
	if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: time.Now(), Phones: []string{"+4915100000001"}}}); err != nil {
		t.Fatal(err)
	}
	id := MustSMSID(t, s, m.Code, "+4915100000001")
	if _, _, _, err := s.Begin(ctx, id, Loaded{Type: sms.OTP}); err != nil {
		t.Fatal(err)
	}
	res, err := s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R1", Status: sms.Delivered}}, time.Hour)
	if err != nil || res[0] != ReceiptUnknown {
		t.Fatalf("early receipt: %v %v", res, err)
	}
	// Step 1 only: the move to sent.
	o := Outcome{Provider: "p", ProviderRef: "R1", Segments: 1}
	if err := s.runCalls(ctx, []*scriptCall{s.transitionCall(id, sms.Sent, 1, nil, sentPairs(o)...)}, false); err != nil {
		t.Fatal(err)
	}
	moved, err := s.MarkSent(ctx, id, o)
	if err != nil || moved {
		t.Fatalf("retry: moved %v, %v; want no move (it was made) and no error", moved, err)
	}
	got, err := s.GetSMS(ctx, id)
	if err != nil || got.Status != sms.Delivered {
		t.Fatalf("after the retry: %+v %v, want the parked receipt applied", got, err)
	}
	if n, _ := s.rdb.ZCard(ctx, s.k.parked(s.k.partitionOf(parkedMember("p", "R1")))).Result(); n != 0 {
		t.Fatalf("the applied receipt is still parked")
	}
}

// TestReindexSentAfterACrash: a worker dies after a sent write's move
// (step 1) and before its reference is indexed; its task runs again, finds
// the SMS sent and re-indexes it (ReindexSent), so the receipt that parked
// meanwhile applies instead of being given up. Both layouts.
func TestReindexSentAfterACrash(t *testing.T) {
	for _, layout := range []Layout{{Partitions: 1}, {Tagged: true, Partitions: 16}} {
		t.Run(layout.String(), func(t *testing.T) {
			r := testenv.NewRedis(t)
			ctx := context.Background()
			s := New(r.Client(t), 24*time.Hour, WithLayout(layout))
			m := &Message{App: "SHOP1-00001", Code: "RIDX-00000000-00000001", Type: sms.OTP, Content: `"hi"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10}
			if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: time.Now(), Phones: []string{"+4915100000002"}}}); err != nil {
				t.Fatal(err)
			}
			id := MustSMSID(t, s, m.Code, "+4915100000002")
			if _, _, _, err := s.Begin(ctx, id, Loaded{Type: sms.OTP}); err != nil {
				t.Fatal(err)
			}
			o := Outcome{Provider: "p", ProviderRef: "R2", Segments: 1}
			if err := s.runCalls(ctx, []*scriptCall{s.transitionCall(id, sms.Sent, 1, nil, sentPairs(o)...)}, false); err != nil {
				t.Fatal(err)
			}
			// The worker is gone; the receipt comes and parks.
			res, err := s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R2", Status: sms.Delivered}}, time.Hour)
			if err != nil || res[0] != ReceiptUnknown {
				t.Fatalf("receipt before the reference was indexed: %v %v", res, err)
			}
			if err := s.ReindexSent(ctx, []string{id}); err != nil {
				t.Fatal(err)
			}
			if got, err := s.GetSMS(ctx, id); err != nil || got.Status != sms.Delivered {
				t.Fatalf("after the task ran again: %+v %v, want the parked receipt applied", got, err)
			}
			// A later receipt finds the reference too.
			if res, err := s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R2", Status: sms.Delivered}}, time.Hour); err != nil || res[0] == ReceiptUnknown {
				t.Fatalf("a receipt after the re-index: %v %v, want the reference known", res, err)
			}
		})
	}
}
