package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// MarkSentBatch records each acceptance as MarkSent does (the record, its
// reference index, the counters, the history), in one round trip, and a
// replay (a batch run again) moves and counts nothing twice.
func TestMarkSentBatchRecordsEachOnceAsMarkSent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var batch []store.Sent
	for i := range 3 {
		code, to := fmt.Sprintf("AAAA-00000000-0000010%d", i), fmt.Sprintf("+491511200010%d", i)
		id := store.MustSMSID(t, s, code, to)
		direct(t, s, code, to)
		if _, _, ok := claim(t, s, id); !ok {
			t.Fatal("claim refused")
		}
		batch = append(batch, store.Sent{ID: id, Outcome: store.Outcome{Provider: "p", ProviderRef: "R" + id, Segments: 2, Encoding: "GSM-7",
			Attempts: []store.Attempt{{Provider: "p", At: time.Now().UTC(), Outcome: "sent"}}}})
	}
	for run := range 2 {
		res, err := s.MarkSentBatch(ctx, batch)
		if err != nil || len(res) != len(batch) {
			t.Fatalf("run %d: %v %v", run, res, err)
		}
		for i, r := range res {
			if r.Err != nil || r.Moved != (run == 0) {
				t.Fatalf("run %d, SMS %d: %+v, want moved=%v", run, i, r, run == 0)
			}
		}
	}
	for _, b := range batch {
		rec, err := s.GetSMS(ctx, b.ID)
		if err != nil || rec.Status != sms.Sent || rec.ProviderRef != "R"+b.ID || rec.Segments != 2 || len(rec.History) != 1 {
			t.Fatalf("record %+v %v", rec, err)
		}
		if id, err := s.Redis().Get(ctx, "sf:ref:p:R"+b.ID).Result(); err != nil || id != b.ID {
			t.Fatalf("reference index: %q %v", id, err)
		}
		if c := counts(t, s, sms.MessageCodeOf(b.ID)); c[sms.Sent] != 1 || c[sms.Sending] != 0 {
			t.Fatalf("counts %v", c)
		}
	}
}
