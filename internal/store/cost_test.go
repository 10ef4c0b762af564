package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestCostJoinsItsSumsOnce: a priced acceptance adds its cost to the
// message's and the application's day sums in the move to sent; recording
// it again (a retry after a lost answer) adds nothing; an unpriced one
// leaves the cost unknown; a range of days sums each partition.
func TestCostJoinsItsSumsOnce(t *testing.T) {
	for _, layout := range []store.Layout{store.PlainLayout, {Tagged: true, Partitions: 4}} {
		t.Run(layout.String(), func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, store.WithLayout(layout))
			ids := map[string]string{}
			for _, c := range []struct{ code, phone string }{
				{"COST-00000000-00000001", "+4915112000071"},
				{"COST-00000000-00000002", "+4915112000072"},
				{"COST-00000000-00000003", "+4915112000073"},
			} {
				direct(t, s, c.code, c.phone)
				ids[c.code] = store.MustSMSID(t, s, c.code, c.phone)
				claim(t, s, ids[c.code])
			}
			priced := store.Outcome{Provider: "sim-a", ProviderRef: "C1", Segments: 2, Cost: 90_000, Priced: true}
			for range 2 { // the second is a retry: no change
				if _, err := s.MarkSent(ctx, ids["COST-00000000-00000001"], priced); err != nil {
					t.Fatal(err)
				}
			}
			priced.ProviderRef, priced.Cost = "C2", 45_001
			if _, err := s.MarkSent(ctx, ids["COST-00000000-00000002"], priced); err != nil {
				t.Fatal(err)
			}
			if _, err := s.MarkSent(ctx, ids["COST-00000000-00000003"], store.Outcome{Provider: "sim-b", ProviderRef: "C3", Segments: 1}); err != nil {
				t.Fatal(err)
			}
			for code, want := range map[string]int64{"COST-00000000-00000001": 90_000, "COST-00000000-00000002": 45_001} {
				m, err := s.GetMessage(ctx, "", code)
				if err != nil || !m.Priced || m.Cost != want {
					t.Fatalf("message %s: cost %d priced %v (%v), want %d", code, m.Cost, m.Priced, err, want)
				}
			}
			m, err := s.GetMessage(ctx, "", "COST-00000000-00000003")
			if err != nil || m.Priced {
				t.Fatalf("unpriced message: priced %v cost %d (%v)", m.Priced, m.Cost, err)
			}
			rec, err := s.GetSMS(ctx, ids["COST-00000000-00000001"])
			if err != nil || !rec.Priced || rec.Cost != 90_000 {
				t.Fatalf("sms cost %d priced %v (%v)", rec.Cost, rec.Priced, err)
			}
			now := time.Now().UTC()
			days, err := s.CostByDay(ctx, "SHOP1-00001", now.AddDate(0, 0, -1), now)
			if err != nil || len(days) != 2 || days[0].Micros != 0 || days[1].Micros != 135_001 || days[1].Day != now.Format(time.DateOnly) {
				t.Fatalf("cost by day %+v (%v), want yesterday 0 and today 135001", days, err)
			}
			if other, err := s.CostByDay(ctx, "BANK0-00002", now, now); err != nil || other[0].Micros != 0 {
				t.Fatalf("another application's day: %+v (%v)", other, err)
			}
		})
	}
}
