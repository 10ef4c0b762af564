package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestSaveInboundOnceWithinTheRetention: a reply is stored once per id
// (a redelivery writes nothing), every key it writes expires with the
// retention, steps are recorded on it, and a step recorded after it
// expired writes nothing (no hash left without a TTL).
func TestSaveInboundOnceWithinTheRetention(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	const app = "SHOP1-00001"
	m := InboundMessage{ID: "r1", Provider: "gw", From: "+4915100000001", To: "SHOP", Text: "Hello there", At: now, Keyword: ""}
	for i, want := range []bool{true, false} {
		got, err := s.SaveInbound(ctx, app, m, time.Hour)
		if err != nil || got != want {
			t.Fatalf("save %d: %v %v, want %v", i+1, got, err, want)
		}
	}
	for _, k := range []string{s.k.inbound(app, "r1"), s.k.inboundList(app), s.k.inboundPhone(app, m.From)} {
		if ttl := r.Client(t).PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s: TTL %s, want within the hour's retention", k, ttl)
		}
	}
	if err := s.MarkInboundStep(ctx, app, "r1", StepAutoReply, "CODE"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetInbound(ctx, app, "r1")
	if err != nil || got.Text != m.Text || got.From != m.From || !got.At.Equal(now) || got.Steps[StepAutoReply] != "CODE" {
		t.Fatalf("stored %+v %v", got, err)
	}
	if err := s.MarkInboundStep(ctx, app, "gone", StepCallback, "1"); err != nil {
		t.Fatal(err)
	}
	if n := r.Client(t).Exists(ctx, s.k.inbound(app, "gone")).Val(); n != 0 {
		t.Fatal("a step recorded on an expired reply made a key without a TTL")
	}
	if _, err := s.GetInbound(ctx, app, "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing reply: %v, want ErrNotFound", err)
	}
}

// TestListInbound: newest first, by phone, by date range, in pages whose
// cursors skip and repeat nothing, never past the retention.
func TestListInbound(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := base.Add(10 * time.Hour)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	const app = "SHOP1-00001"
	// 10 replies, one an hour, alternating between two phones; two more in
	// the same millisecond as the 5th.
	for i := range 10 {
		from := "+4915100000001"
		if i%2 == 1 {
			from = "+4915100000002"
		}
		m := InboundMessage{ID: fmt.Sprintf("r%02d", i), Provider: "gw", From: from, To: "SHOP", Text: "t", At: base.Add(time.Duration(i) * time.Hour)}
		if _, err := s.SaveInbound(ctx, app, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"r04b", "r04c"} {
		if _, err := s.SaveInbound(ctx, app, InboundMessage{ID: id, Provider: "gw", From: "+4915100000001", To: "SHOP", At: base.Add(4 * time.Hour)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(q InboundQuery) []string {
		t.Helper()
		var out []string
		for pages := 0; pages < 20; pages++ {
			ms, next, err := s.ListInbound(ctx, app, q, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				out = append(out, m.ID)
			}
			if next == 0 {
				return out
			}
			q.Cursor = next
		}
		t.Fatal("more than 20 pages")
		return nil
	}
	tests := []struct {
		name string
		q    InboundQuery
		want string
	}{
		{"all, one page", InboundQuery{Limit: 100}, "[r09 r08 r07 r06 r05 r04 r04b r04c r03 r02 r01 r00]"},
		{"all, pages of 3 (one millisecond is never split)", InboundQuery{Limit: 3}, "[r09 r08 r07 r06 r05 r04 r04b r04c r03 r02 r01 r00]"},
		{"one phone", InboundQuery{Phone: "+4915100000002", Limit: 2}, "[r09 r07 r05 r03 r01]"},
		{"a date range, both ends included", InboundQuery{From: base.Add(2 * time.Hour), To: base.Add(5 * time.Hour), Limit: 2}, "[r05 r04 r04b r04c r03 r02]"},
		{"a phone no reply came from", InboundQuery{Phone: "+4915100000009", Limit: 10}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(tt.q)
			// Equal milliseconds come in member order, reversed: sort them
			// out of the comparison by checking the set of that millisecond.
			if g := fmt.Sprint(normalizeSameMs(got)); g != tt.want {
				t.Fatalf("got %s, want %s", g, tt.want)
			}
		})
	}
	now = base.Add(24*time.Hour + 5*time.Hour + time.Minute) // r00..r05 are past the retention
	if got := fmt.Sprint(ids(InboundQuery{Limit: 100})); got != "[r09 r08 r07 r06]" {
		t.Fatalf("after the retention: %s", got)
	}
	if _, _, err := s.ListInbound(ctx, app, InboundQuery{}, 0); err == nil {
		t.Fatal("a limit of 0 was accepted")
	}
}

// normalizeSameMs orders r04, r04b, r04c (one millisecond) as listed in
// the test's want strings, whatever order Redis gave them.
func normalizeSameMs(ids []string) []string {
	out := make([]string, 0, len(ids))
	var same []string
	flush := func() {
		if len(same) > 0 {
			for _, w := range []string{"r04", "r04b", "r04c"} {
				for _, x := range same {
					if x == w {
						out = append(out, x)
					}
				}
			}
			same = nil
		}
	}
	for _, id := range ids {
		if id == "r04" || id == "r04b" || id == "r04c" {
			same = append(same, id)
			continue
		}
		flush()
		out = append(out, id)
	}
	flush()
	return out
}

// TestUnmatchedReplyKeptOncePerID: a redelivered unmatched reply (same
// id) is kept once, with its text; one without an id every time.
func TestUnmatchedReplyKeptOncePerID(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	s := New(r.Client(t), 24*time.Hour)
	for range 3 {
		if err := s.AddUnmatched(ctx, UnmatchedReply{ID: "x1", Provider: "gw", From: "+4915100000001", To: "+4930000000", Text: "who is this?"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListUnmatched(ctx, 10)
	if err != nil || len(got) != 1 || got[0].Text != "who is this?" || got[0].ID != "x1" || got[0].Keyword != "" {
		t.Fatalf("unmatched %+v %v, want the reply once with its text", got, err)
	}
	if ttl := r.Client(t).PTTL(ctx, keyUnmatchedIDs).Val(); ttl <= 0 || ttl > UnmatchedRetention {
		t.Fatalf("ids TTL %s", ttl)
	}
}

// TestKeywordAnswerIsNotSuppressedByTheOptOutItAnswers: the load reports
// the phone's opt-outs for an ordinary SMS and none for the answer to its
// keyword (a STOP confirmation), so the worker sends the confirmation of
// the STOP that opted it out.
func TestKeywordAnswerIsNotSuppressedByTheOptOutItAnswers(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	const app, phone = "SHOP1-00001", "+4915100000031"
	if _, err := s.ApplyReply(ctx, Reply{Phone: phone, Sender: "SMSFLEET", Provider: "gw", Apps: []string{app}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddOptOut(ctx, app, phone, ""); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		code      string
		answer    bool
		wantOpted bool
	}{
		{"KWAN-00000000-00000001", false, true},
		{"KWAN-00000000-00000002", true, false},
	} {
		m := &Message{App: app, Code: tt.code, Type: "transactional", Content: `"ok"`, SendAt: now, Validity: time.Hour, Direct: true, ChunkSize: 1, KeywordAnswer: tt.answer}
		if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: []string{phone}}}); err != nil {
			t.Fatal(err)
		}
		ls, err := s.LoadBatch(ctx, []SMSRef{{ID: MustSMSID(t, s, tt.code, phone), App: app, Phone: phone}})
		if err != nil || !ls[0].OK {
			t.Fatalf("load: %+v %v", ls, err)
		}
		opted := ls[0].OptedOut || len(ls[0].OptedOutFrom) > 0
		if opted != tt.wantOpted {
			t.Errorf("keyword answer %v: loaded opted out %v (%v %v), want %v", tt.answer, opted, ls[0].OptedOut, ls[0].OptedOutFrom, tt.wantOpted)
		}
		got, err := s.GetMessage(ctx, app, tt.code)
		if err != nil || got.KeywordAnswer != tt.answer {
			t.Errorf("stored KeywordAnswer %v (%v), want %v", got.KeywordAnswer, err, tt.answer)
		}
	}
}
