package worker

import (
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// wantFailedForGood checks that a task result archives SMS id in asynq:
// it wraps asynq.SkipRetry, is no deferral, names the SMS and quotes no
// full phone number.
func wantFailedForGood(t *testing.T, err error, id string) {
	t.Helper()
	var d *Deferred
	switch {
	case err == nil:
		t.Fatal("task result nil: asynq completes the task and the failure leaves no trace")
	case !errors.Is(err, asynq.SkipRetry), errors.As(err, &d), !isFailure(err):
		t.Fatalf("task result %v: want a failure wrapping asynq.SkipRetry (archived, not retried)", err)
	case !strings.Contains(err.Error(), id):
		t.Fatalf("task result %q does not name the SMS %s", err, id)
	case sms.MaskPhonesIn(err.Error()) != err.Error():
		t.Fatalf("task result %q quotes a phone number", err)
	}
}

func TestFailedForGoodError(t *testing.T) {
	for _, c := range []struct {
		name, reason, want string
	}{
		{"provider error", "a: permanent: 400 21211", "sms X.0123456789abcdef failed for good, not retried: a: permanent: 400 21211"},
		{"number quoted", "invalid To +447911123456", "sms X.0123456789abcdef failed for good, not retried: invalid To " + sms.MaskPhone("+447911123456")},
		{"too long", ErrorTooLong, "sms X.0123456789abcdef failed for good, not retried: too_long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := error(&failedForGood{id: "X.0123456789abcdef", reason: c.reason})
			if err.Error() != c.want {
				t.Fatalf("error %q, want %q", err, c.want)
			}
			wantFailedForGood(t, err, "X.0123456789abcdef")
			if !isFailedForGood(err) || isFailedForGood(errors.New(c.reason)) {
				t.Fatal("isFailedForGood does not tell them apart")
			}
		})
	}
}

// A task run again for an SMS whose failure is recorded (a crash before
// asynq archived it, the monitor's "run") calls no provider, counts
// nothing again and is archived again.
func TestFailedSMSRunAgainIsArchivedWithoutASend(t *testing.T) {
	a := newStub(t, "a", answerReject, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000057"
	id := f.create(msg{}, phone)
	wantFailedForGood(t, f.s.settle(f.ctx, f.delivered(id, phone)), id)
	for range 2 {
		err := f.s.process(f.ctx, []store.SMSRef{ref(id, phone)})[0]
		wantFailedForGood(t, err, id)
		if !strings.Contains(err.Error(), "21211") {
			t.Fatalf("task result %q, want the recorded provider error", err)
		}
	}
	if n := a.calls.Load(); n != 1 {
		t.Fatalf("provider calls %d, want 1", n)
	}
	if c := f.counts(id); c[sms.Failed] != 1 || c[sms.Sending] != 0 {
		t.Fatalf("counts %v, want failed 1", c)
	}
	if r := f.rec(id); r.Status != sms.Failed || r.Attempts != 1 {
		t.Fatalf("record %+v, want failed after 1 attempt", r)
	}
}

// In a batch, an SMS that fails for good gets a follow-up due at once that
// uses no retry: run, it calls no provider and archives (SkipRetry).
func TestBatchFailureForGoodFollowsUpToBeArchived(t *testing.T) {
	b := newBatchFixture(t)
	b.s.MaxAttempts = 1 // its one failure is its last
	ok, bad := "+4915112000074", "+4915112000075"
	b.p.answers[bad] = []answer{answerDown}
	ids := []string{b.create(msg{}, ok), b.create(msg{}, bad)}
	if err := b.s.ProcessBatch(b.ctx, b.batchTask(ids, []string{ok, bad})); err != nil {
		t.Fatalf("ProcessBatch = %v, want nil", err)
	}
	if r := b.rec(ids[1]); r.Status != sms.Failed || b.p.callsTo(bad) != 1 {
		t.Fatalf("rejected SMS %+v, %d calls: want failed after one call", r, b.p.callsTo(bad))
	}
	ti := b.followUp(ids[1])
	if ti == nil || ti.State != asynq.TaskStatePending {
		t.Fatalf("follow-up %+v, want one pending (due now)", ti)
	}
	if p := tasks.ParseSend(ti.Payload); p.Retried != 0 {
		t.Fatalf("follow-up payload %+v, want no retry used", p)
	}
	wantFailedForGood(t, b.runFollowUp(ids[1]), ids[1])
	if b.p.callsTo(bad) != 1 {
		t.Fatalf("the follow-up called the provider again (%d calls)", b.p.callsTo(bad))
	}
	if c := b.counts(ids[1]); c[sms.Failed] != 1 || c[sms.Sending] != 0 {
		t.Fatalf("counts %v, want failed 1 (counted once)", c)
	}
}
