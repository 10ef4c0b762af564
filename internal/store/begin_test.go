package store

import (
	"context"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestBeginPaths: what scriptBegin leaves behind on each of its paths, now
// that it reads status and attempts in one HMGET and moves in one HSET: the
// record's status, attempts, in-flight mark and reason, and the message's
// counters (a capped SMS goes from queued straight to suppressed, passing
// no sending count).
func TestBeginPaths(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := New(testenv.NewRedis(t).Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const app, phone = "SHOP1-00001", "+4915100000001"
	create := func(code string) Loaded {
		t.Helper()
		m := &Message{App: app, Code: code, Type: sms.Marketing, Content: `"hi"`, SendAt: now, Validity: time.Hour, Direct: true, ChunkSize: 10,
			CappingDays: 1, CappingCount: 1}
		if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: []string{phone}}}); err != nil {
			t.Fatal(err)
		}
		ls, err := s.LoadBatch(ctx, []SMSRef{{ID: MustSMSID(t, s, code, phone), App: app, Phone: phone}})
		if err != nil {
			t.Fatal(err)
		}
		ls[0].Attempting = "p"
		return ls[0]
	}
	first, second := create("AAAA-00000000-00000001"), create("AAAA-00000000-00000002")
	cases := []struct {
		name     string
		l        Loaded
		want     Began
		status   sms.Status
		attempts int
		inFlight string
		reason   string
		counts   map[sms.Status]int64
	}{
		{"queued: taken, first attempt, in flight", first, Began{OK: true, Attempts: 1}, sms.Sending, 1, "p", "", map[sms.Status]int64{sms.Sending: 1}},
		{"sending: taken again, second attempt", first, Began{OK: true, Attempts: 2}, sms.Sending, 2, "p", "", map[sms.Status]int64{sms.Sending: 1}},
		{"queued past the cap: suppressed", second, Began{Capped: true}, sms.Suppressed, 0, "", "frequency_cap", map[sms.Status]int64{sms.Suppressed: 1}},
		{"suppressed: refused", second, Began{}, sms.Suppressed, 0, "", "frequency_cap", map[sms.Status]int64{sms.Suppressed: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bs, err := s.BeginBatch(ctx, []Loaded{c.l})
			if err != nil {
				t.Fatal(err)
			}
			if bs[0] != c.want {
				t.Errorf("began %+v, want %+v", bs[0], c.want)
			}
			rec, err := s.GetSMS(ctx, c.l.ID)
			if err != nil {
				t.Fatal(err)
			}
			fl, _ := s.rdb.HGet(ctx, smsKey(c.l.ID), fInFlight).Result()
			if rec.Status != c.status || rec.Attempts != c.attempts || rec.Reason != c.reason || fl != c.inFlight {
				t.Errorf("record: status %s attempts %d reason %q in flight %q, want %s %d %q %q", rec.Status, rec.Attempts, rec.Reason, fl, c.status, c.attempts, c.reason, c.inFlight)
			}
			m, err := s.GetMessage(ctx, app, sms.MessageCodeOf(c.l.ID))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Counts) != len(c.counts) {
				t.Errorf("counts %v, want %v", m.Counts, c.counts)
			}
			for st, n := range c.counts {
				if m.Counts[st] != n {
					t.Errorf("counts %v, want %v", m.Counts, c.counts)
				}
			}
		})
	}
}
