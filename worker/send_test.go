package worker

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// task is the send task the intake enqueues for an SMS.
func task(id, phone string, typ sms.Type) *asynq.Task {
	return tasks.SendFor(tasks.SendPayload{ID: id, App: testApp, Phone: phone}, typ, 1, 25, time.Minute)
}

func TestProcessTask(t *testing.T) {
	for _, c := range []struct {
		name   string
		m      msg
		setup  func(f *fixture, phone string)
		calls  int64
		status sms.Status
		reason string
	}{
		{name: "queued transactional is sent", calls: 1, status: sms.Sent},
		{name: "opted out is suppressed", setup: func(f *fixture, phone string) {
			if _, err := f.st.AddOptOut(f.ctx, testApp, phone, ""); err != nil {
				f.t.Fatal(err)
			}
		}, status: sms.Suppressed, reason: ReasonOptedOut},
		{name: "opted-out OTP is sent (policy)", m: msg{typ: sms.OTP}, setup: func(f *fixture, phone string) {
			if _, err := f.st.AddOptOut(f.ctx, testApp, phone, ""); err != nil {
				f.t.Fatal(err)
			}
		}, calls: 1, status: sms.Sent},
		{name: "marketing without consent is suppressed", m: msg{typ: sms.Marketing}, status: sms.Suppressed, reason: ReasonNoConsent},
		{name: "marketing with consent is sent", m: msg{typ: sms.Marketing}, setup: func(f *fixture, phone string) { f.consenting(phone) }, calls: 1, status: sms.Sent},
		{name: "missing tag is suppressed", m: msg{content: `"Hi {Name|CapitalizeFirst}"`}, status: sms.Suppressed, reason: ReasonMissingTag},
		{name: "past its validity expires", setup: func(f *fixture, _ string) {
			f.s.Now = func() time.Time { return t0.Add(2 * time.Hour) }
		}, status: sms.Expired},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newStub(t, "a", answerOK, 0)
			f := newFixture(t, providers(a)...)
			const phone = "+4915112000060"
			id := f.create(c.m, phone)
			if c.setup != nil {
				c.setup(f, phone)
			}
			if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err != nil {
				t.Fatalf("ProcessTask = %v, want nil", err)
			}
			r := f.rec(id)
			if r.Status != c.status || r.Reason != c.reason || a.calls.Load() != c.calls {
				t.Fatalf("record %s %q after %d provider calls, want %s %q after %d", r.Status, r.Reason, a.calls.Load(), c.status, c.reason, c.calls)
			}
			if cn := f.counts(id); cn[c.status] != 1 || cn[sms.Queued] != 0 || cn[sms.Sending] != 0 {
				t.Fatalf("counts %v, want %s 1", cn, c.status)
			}
		})
	}
}

func TestProcessTaskTwiceSendsOnce(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000061"
	id := f.create(msg{}, phone)
	// The second run is a duplicate task; the third an old id-only one.
	for _, tk := range []*asynq.Task{task(id, phone, sms.Transactional), task(id, phone, sms.Transactional), tasks.Send(id, sms.Transactional, 1, 25, time.Minute)} {
		if err := f.s.ProcessTask(f.ctx, tk); err != nil {
			t.Fatalf("ProcessTask = %v", err)
		}
	}
	if got := a.received(); len(got) != 1 || got[0].ID != id || got[0].From != DefaultSender || got[0].Text != "hi" || got[0].To != phone {
		t.Fatalf("provider received %+v, want the SMS once", got)
	}
	if r := f.rec(id); r.Status != sms.Sent || r.Attempts != 1 {
		t.Fatalf("record %+v", r)
	}
}

func TestProcessTaskByIDAlone(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000062"
	id := f.create(msg{}, phone)
	if err := f.s.ProcessTask(f.ctx, tasks.Send(id, sms.Transactional, 1, 25, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r := f.rec(id); r.Status != sms.Sent || a.calls.Load() != 1 {
		t.Fatalf("record %+v after %d calls", r, a.calls.Load())
	}
}

func TestProcessTaskRetriesATransientFailureUntilSent(t *testing.T) {
	a := newStub(t, "a", answerDown, 0)
	f := newFixture(t, providers(a)...)
	const phone = "+4915112000063"
	id := f.create(msg{}, phone)
	err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional))
	var d *Deferred
	if err == nil || errors.As(err, &d) {
		t.Fatalf("first run = %v, want an error for asynq to retry", err)
	}
	if r := f.rec(id); r.Status != sms.Sending || r.Attempts != 1 {
		t.Fatalf("after the failure: %+v", r)
	}
	a.set(answerOK)
	if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err != nil {
		t.Fatalf("retry = %v", err)
	}
	r := f.rec(id)
	if r.Status != sms.Sent || r.Attempts != 2 || attemptOutcomes(r.History) != "a:transient,a:sent" || a.calls.Load() != 2 {
		t.Fatalf("after the retry: %+v, %d calls", r, a.calls.Load())
	}
}

func TestProcessTaskBatchOfMixedFates(t *testing.T) {
	a := newStub(t, "a", answerOK, 0)
	f := newFixture(t, providers(a)...)
	sent, optedOut, canceledPhone := "+4915112000064", "+4915112000065", "+4915112000066"
	idSent, idOpted, idCanceled := f.create(msg{}, sent), f.create(msg{}, optedOut), f.create(msg{}, canceledPhone)
	if _, err := f.st.AddOptOut(f.ctx, testApp, optedOut, ""); err != nil {
		t.Fatal(err)
	}
	m, err := f.st.GetMessage(f.ctx, "", sms.MessageCodeOf(idCanceled))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CancelMessage(f.ctx, m); err != nil {
		t.Fatal(err)
	}
	errs := f.s.process(f.ctx, []store.SMSRef{ref(idSent, sent), ref(idOpted, optedOut), ref(idCanceled, canceledPhone)})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	for id, want := range map[string]sms.Status{idSent: sms.Sent, idOpted: sms.Suppressed, idCanceled: sms.Canceled} {
		if r := f.rec(id); r.Status != want {
			t.Errorf("%s: %s, want %s", id, r.Status, want)
		}
	}
	if a.calls.Load() != 1 {
		t.Fatalf("provider calls %d, want 1", a.calls.Load())
	}
}

// TestProcessTaskOptOutScopes: the send-time check applies an opt-out in
// its scope. A phone's STOP to sender SHOP suppresses the application's
// SMS from SHOP (the notification's sender, or the policy's when it sets
// none), not those from another sender; an opt-out of the whole
// application (the API's, or a legacy one from before the records)
// suppresses every sender.
func TestProcessTaskOptOutScopes(t *testing.T) {
	stopToShop := func(f *fixture, phone string) {
		if _, err := f.st.ApplyReply(f.ctx, store.Reply{Phone: phone, Sender: "SHOP", Provider: "a", Apps: []string{testApp}}); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name      string
		m         msg
		polSender string
		setup     func(f *fixture, phone string)
		status    sms.Status
	}{
		{"STOP to SHOP, SMS from SHOP", msg{sender: "SHOP"}, "", stopToShop, sms.Suppressed},
		{"STOP to SHOP, SMS from Shop (case)", msg{sender: "Shop"}, "", stopToShop, sms.Suppressed},
		{"STOP to SHOP, SMS from the policy's SHOP", msg{}, "SHOP", stopToShop, sms.Suppressed},
		{"STOP to SHOP, SMS from OTHER", msg{sender: "OTHER"}, "SHOP", stopToShop, sms.Sent},
		{"STOP to SHOP, SMS from the default sender", msg{}, "", stopToShop, sms.Sent},
		{"STOP to SHOP, an OTP from SHOP (policy lets codes through)", msg{typ: sms.OTP, sender: "SHOP"}, "", stopToShop, sms.Sent},
		{"STOP to SHOP then START to SHOP", msg{sender: "SHOP"}, "", func(f *fixture, phone string) {
			stopToShop(f, phone)
			if _, err := f.st.ApplyReply(f.ctx, store.Reply{Phone: phone, Sender: "SHOP", Provider: "a", Start: true, Apps: []string{testApp}}); err != nil {
				f.t.Fatal(err)
			}
		}, sms.Sent},
		{"STOP to SHOP of another application", msg{sender: "SHOP"}, "", func(f *fixture, phone string) {
			if _, err := f.st.ApplyReply(f.ctx, store.Reply{Phone: phone, Sender: "SHOP", Provider: "a", Apps: []string{"BANK1-00002"}}); err != nil {
				f.t.Fatal(err)
			}
		}, sms.Sent},
		{"the API's opt-out of SHOP, SMS from OTHER", msg{sender: "OTHER"}, "", func(f *fixture, phone string) {
			if _, err := f.st.AddOptOut(f.ctx, testApp, phone, "SHOP"); err != nil {
				f.t.Fatal(err)
			}
		}, sms.Sent},
		{"the API's opt-out of the application, SMS from OTHER", msg{sender: "OTHER"}, "", func(f *fixture, phone string) {
			if _, err := f.st.AddOptOut(f.ctx, testApp, phone, ""); err != nil {
				f.t.Fatal(err)
			}
		}, sms.Suppressed},
		{"a legacy opt-out, SMS from OTHER", msg{sender: "OTHER"}, "", func(f *fixture, phone string) {
			if err := f.redis.Client(f.t).ZAdd(f.ctx, "sf:oo:"+testApp, redis.Z{Score: 1, Member: phone}).Err(); err != nil {
				f.t.Fatal(err)
			}
		}, sms.Suppressed},
		{"a legacy opt-out beside a STOP to SHOP, SMS from OTHER", msg{sender: "OTHER"}, "", func(f *fixture, phone string) {
			if err := f.redis.Client(f.t).ZAdd(f.ctx, "sf:oo:"+testApp, redis.Z{Score: 1, Member: phone}).Err(); err != nil {
				f.t.Fatal(err)
			}
			stopToShop(f, phone)
		}, sms.Suppressed},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newStub(t, "a", answerOK, 0)
			f := newFixture(t, providers(a)...)
			f.pol.Sender = c.polSender
			const phone = "+4915112000070"
			id := f.create(c.m, phone)
			c.setup(f, phone)
			if err := f.s.ProcessTask(f.ctx, task(id, phone, sms.Transactional)); err != nil {
				t.Fatalf("ProcessTask = %v, want nil", err)
			}
			r := f.rec(id)
			want := ""
			if c.status == sms.Suppressed {
				want = ReasonOptedOut
			}
			if r.Status != c.status || r.Reason != want {
				t.Fatalf("record %s %q, want %s %q", r.Status, r.Reason, c.status, want)
			}
		})
	}
}
