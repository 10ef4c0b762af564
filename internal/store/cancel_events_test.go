package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// scheduledMessage creates a message of two groups (3 and 4 recipients,
// chunks of 2), both due in an hour: nothing of it has a record yet.
func scheduledMessage(t *testing.T, s *store.Store, code string) store.Message {
	t.Helper()
	ctx := context.Background()
	at := time.Now().Add(time.Hour)
	var a, b []string
	for i := range 7 {
		p := fmt.Sprintf("+49151120009%02d", i)
		if i < 3 {
			a = append(a, p)
		} else {
			b = append(b, p)
		}
	}
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"hi"`, SendAt: at, Validity: time.Hour, ChunkSize: 2}
	if _, created, err := s.CreateMessage(ctx, m, []store.Audience{{Zone: "UTC", SendAt: at, Phones: a}, {Zone: "Europe/Berlin", SendAt: at.Add(time.Minute), Phones: b}}); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	got, err := s.GetMessage(ctx, "", code)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Groups) != 2 {
		t.Fatalf("groups %+v, want 2", got.Groups)
	}
	return got
}

// canceledEvents reads every outcome event of every partition and returns
// how many each SMS id got, all of them canceled.
func canceledEvents(t *testing.T, s *store.Store) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	for p := range s.Partitions() {
		evs, err := s.ReadOutcomes(ctx, p, "test", 1000, 10*time.Millisecond, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Status != sms.Canceled || e.Phone == "" || e.App != "SHOP1-00001" {
				t.Fatalf("event %+v, want a canceled SMS with its phone and application", e)
			}
			out[e.SMSID]++
		}
	}
	return out
}

// TestEveryCanceledSMSHasOneOutcomeEvent: a cancel gives each SMS it
// cancels one canceled outcome event, whether it runs once, is retried,
// dies midway and is retried, dies midway and the group's dispatch task
// finishes it, or races a fan-out that materializes records meanwhile.
func TestEveryCanceledSMSHasOneOutcomeEvent(t *testing.T) {
	cases := []struct {
		name string
		run  func(ctx context.Context, s *store.Store, m store.Message) error
	}{
		{"once, then again", func(ctx context.Context, s *store.Store, m store.Message) error {
			if _, err := s.CancelMessage(ctx, m); err != nil {
				return err
			}
			if _, err := s.CancelMessage(ctx, m); !errors.Is(err, store.ErrAlreadySent) {
				return fmt.Errorf("second cancel: %v, want ErrAlreadySent", err)
			}
			return nil
		}},
		{"dies midway, retried", func(ctx context.Context, s *store.Store, m store.Message) error {
			if err := store.CancelDyingAfterGroup(ctx, s, m, 0); err != nil {
				return err
			}
			if got := counts(t, s, m.Code); got[sms.Canceled] != 3 || got[sms.Scheduled] != 4 {
				return fmt.Errorf("after the crash counts %v, want 3 canceled 4 scheduled", got)
			}
			_, err := s.CancelMessage(ctx, m)
			return err
		}},
		{"dies midway, the dispatch task finishes", func(ctx context.Context, s *store.Store, m store.Message) error {
			if err := store.CancelDyingAfterGroup(ctx, s, m, 0); err != nil {
				return err
			}
			for g := range 2 { // group 0's task finds nothing left to do
				if _, err := s.FinishCanceledGroup(ctx, m.Code, g); err != nil {
					return err
				}
			}
			n, err := s.FinishCanceledGroup(ctx, m.Code, 1) // a redelivered task
			if n != 0 {
				return fmt.Errorf("a second finish canceled %d", n)
			}
			return err
		}},
		{"a started fan-out materializes canceled records meanwhile", func(ctx context.Context, s *store.Store, m store.Message) error {
			if ok, err := s.StartFanout(ctx, m.Code, 0); err != nil || !ok {
				return fmt.Errorf("start: %v %v", ok, err)
			}
			if err := store.CancelDyingAfterGroup(ctx, s, m, 1); err != nil {
				return err
			}
			for c := 0; c < m.Chunks(0); c++ { // the fan-out goes on after the mark
				phones, err := s.RecipientChunk(ctx, m.Code, m.Groups[0].FirstChunk+c)
				if err != nil {
					return err
				}
				_, sts, err := s.Materialize(ctx, m, phones, time.Now().Add(time.Hour))
				if err != nil {
					return err
				}
				for _, st := range sts {
					if st != sms.Canceled {
						return fmt.Errorf("materialized %s after the cancel", st)
					}
				}
			}
			_, err := s.CancelMessage(ctx, m) // retried: finds nothing left
			if !errors.Is(err, store.ErrAlreadySent) {
				return fmt.Errorf("retried cancel: %v, want ErrAlreadySent", err)
			}
			return nil
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			if err := s.EnsureOutcomeGroup(ctx); err != nil {
				t.Fatal(err)
			}
			m := scheduledMessage(t, s, fmt.Sprintf("AAAA-00000000-000000C%d", i))
			if err := c.run(ctx, s, m); err != nil {
				t.Fatal(err)
			}
			if got := counts(t, s, m.Code); got[sms.Canceled] != 7 || got[sms.Scheduled] != 0 {
				t.Fatalf("counts %v, want 7 canceled", got)
			}
			evs := canceledEvents(t, s)
			if len(evs) != 7 {
				t.Fatalf("%d SMS with events, want 7: %v", len(evs), evs)
			}
			for id, n := range evs {
				if n != 1 {
					t.Errorf("%s: %d canceled events, want 1", id, n)
				}
			}
		})
	}
}
