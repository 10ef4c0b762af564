package worker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
)

func TestLoadQueuedSMSWithMessageDeviceAndOptOut(t *testing.T) {
	f := newFixture(t)
	const phone = "+4915112000010"
	id := f.create(msg{typ: sms.Marketing, content: `{"en":"Hi {Name}","de":"Hallo {Name}"}`, placeholders: `{"Code":"42"}`,
		sender: "Shop", cappingDays: 7, cappingCount: 2}, phone)
	f.device(phone, "de", map[string]json.RawMessage{"Name": json.RawMessage(`"Jürgen"`)})
	if _, err := f.st.AddOptOut(f.ctx, testApp, phone, ""); err != nil {
		t.Fatal(err)
	}
	// A send task names the SMS with its application and phone; a task of
	// an earlier version names it by id alone. Both load the same.
	for _, r := range []store.SMSRef{ref(id, phone), {ID: id}} {
		items, err := f.s.load(f.ctx, []store.SMSRef{r})
		if err != nil {
			t.Fatal(err)
		}
		checkLoadedWithMessageDeviceAndOptOut(t, f, r, items[0], id, phone)
	}
	if len(f.policyApps) != 2 || f.policyApps[0] != testApp {
		t.Fatalf("policy asked for %v, want %s per load", f.policyApps, testApp)
	}
	// load begins nothing.
	if r := f.rec(id); r.Status != sms.Queued || r.Attempts != 0 {
		t.Fatalf("after load: %s with %d attempts, want queued and none", r.Status, r.Attempts)
	}
}

// checkLoadedWithMessageDeviceAndOptOut checks what loading r gave: the
// SMS id to phone to send, with its message's fields, the device's
// language and tags, the opt-out flag and the application's policy.
func checkLoadedWithMessageDeviceAndOptOut(t *testing.T, f *fixture, r store.SMSRef, it *item, id, phone string) {
	t.Helper()
	l := it.l
	if it.verdict.fate != fateSend || !l.OK || l.Status != sms.Queued || l.ID != id || l.To != phone || l.Attempts != 0 {
		t.Fatalf("ref %+v: fate %v, loaded %+v", r, it.verdict.fate, l)
	}
	if l.App != testApp || l.Type != sms.Marketing || l.Content != `{"en":"Hi {Name}","de":"Hallo {Name}"}` ||
		l.Placeholders != `{"Code":"42"}` || l.Sender != "Shop" || l.CappingDays != 7 || l.CappingCount != 2 || !l.Deadline.Equal(t0.Add(time.Hour)) {
		t.Fatalf("ref %+v: message fields %+v", r, l)
	}
	if l.Device == nil || l.Device.Language != "de" || string(l.Device.Tags["Name"]) != `"Jürgen"` {
		t.Fatalf("ref %+v: device %+v", r, l.Device)
	}
	if !l.OptedOut {
		t.Fatalf("ref %+v: opt-out flag not loaded", r)
	}
	if it.pol != f.pol {
		t.Fatalf("ref %+v: policy %+v, want the application's %+v", r, it.pol, f.pol)
	}
}

func TestLoadWithoutDeviceOrOptOut(t *testing.T) {
	f := newFixture(t)
	const phone = "+4915112000011"
	id := f.create(msg{}, phone)
	items, err := f.s.load(f.ctx, []store.SMSRef{ref(id, phone)})
	if err != nil {
		t.Fatal(err)
	}
	if l := items[0].l; !l.OK || l.Device != nil || l.OptedOut || l.Type != sms.Transactional {
		t.Fatalf("loaded %+v, want no device and not opted out", l)
	}
}

func TestLoadOfSMSNotQueuedIsNotLoadable(t *testing.T) {
	f := newFixture(t)
	canceled, sent, sending := "+4915112000012", "+4915112000013", "+4915112000014"
	idCanceled := f.create(msg{}, canceled)
	m, err := f.st.GetMessage(f.ctx, "", sms.MessageCodeOf(idCanceled))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CancelMessage(f.ctx, m); err != nil {
		t.Fatal(err)
	}
	idSent := f.create(msg{}, sent)
	began := f.begin(idSent)
	if _, err := f.st.MarkSent(f.ctx, idSent, store.Outcome{Provider: "a", ProviderRef: "R1", Segments: 1}); err != nil || began != 1 {
		t.Fatal(err)
	}
	idSending := f.create(msg{}, sending)
	f.begin(idSending)
	missing := storetest.SMSID(t, f.st, "TEST-99999999-99999999", "+4915112000015")

	refs := []store.SMSRef{ref(idCanceled, canceled), ref(idSent, sent), ref(missing, "+4915112000015"), {ID: missing}, ref(idSending, sending)}
	items, err := f.s.load(f.ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name   string
		fate   fate
		reason string
	}{
		{"canceled", fateDone, string(sms.Canceled)},
		{"sent", fateDone, string(sms.Sent)},
		{"missing", fateDone, ""},
		{"missing, by id alone", fateDone, ""},
		{"sending (a retry) is loadable", fateSend, ""},
	} {
		it := items[i]
		if it.verdict.fate != c.fate || it.verdict.reason != c.reason || it.l.OK != (c.fate == fateSend) {
			t.Errorf("%s: fate %v %q ok=%v, want %v %q", c.name, it.verdict.fate, it.verdict.reason, it.l.OK, c.fate, c.reason)
		}
	}
	if live := live(items); len(live) != 1 || live[0].l.ID != idSending {
		t.Fatalf("live after load: %d items", len(live))
	}
	// Not loadable settles as done: nothing recorded, nil for asynq.
	for _, it := range items[:4] {
		if err := f.s.settle(f.ctx, it); err != nil {
			t.Fatalf("settle of a not-loadable SMS: %v", err)
		}
	}
	if r := f.rec(idSent); r.Status != sms.Sent || r.ProviderRef != "R1" {
		t.Fatalf("sent record changed: %+v", r)
	}
	if _, err := f.st.GetSMS(f.ctx, missing); err == nil {
		t.Fatal("settling a missing SMS created a record")
	}
}
