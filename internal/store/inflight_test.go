package store_test

import (
	"context"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestInFlightMark: Begin marks the attempt in flight at the provider asked
// first and Pin moves it; a load then reads an ambiguous attempt there (a
// worker died mid-call). Settling the attempt in any way clears it.
func TestInFlightMark(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	settle := map[string]func(id string) error{
		"unbegin":         func(id string) error { return s.Unbegin(ctx, id) },
		"record attempts": func(id string) error { return s.RecordAttempts(ctx, id, "b", "503", false, nil) },
		"sent": func(id string) error {
			_, err := s.MarkSent(ctx, id, store.Outcome{Provider: "b", ProviderRef: "R-" + id, Segments: 1})
			return err
		},
	}
	i := 0
	for name, do := range settle {
		i++
		t.Run(name, func(t *testing.T) {
			code, to := "INFL-00000000-0000000"+string(rune('0'+i)), "+491511200010"+string(rune('0'+i))
			direct(t, s, code, to)
			id := store.MustSMSID(t, s, code, to)
			l, ok, err := s.LoadSMS(ctx, id)
			if err != nil || !ok || l.LastAmbiguous {
				t.Fatalf("fresh load: %+v %v %v", l, ok, err)
			}
			l.Attempting = "a"
			if _, err := s.BeginBatch(ctx, []store.Loaded{l}); err != nil {
				t.Fatal(err)
			}
			if l, _, _ := s.LoadSMS(ctx, id); !l.LastAmbiguous || l.LastProvider != "a" {
				t.Fatalf("after begin: last %q ambiguous %v, want in flight at a", l.LastProvider, l.LastAmbiguous)
			}
			if err := s.Pin(ctx, id, "b"); err != nil {
				t.Fatal(err)
			}
			if l, _, _ := s.LoadSMS(ctx, id); !l.LastAmbiguous || l.LastProvider != "b" {
				t.Fatalf("after pin: last %q ambiguous %v, want in flight at b", l.LastProvider, l.LastAmbiguous)
			}
			if err := do(id); err != nil {
				t.Fatal(err)
			}
			if l, ok, _ := s.LoadSMS(ctx, id); ok && l.LastAmbiguous {
				t.Fatalf("after %s: still in flight at %q", name, l.LastProvider)
			}
		})
	}
}
