package worker

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

func TestCompose(t *testing.T) {
	pol := testPolicy()
	appSender := pol
	appSender.Sender = "AppName"
	short := pol
	short.MaxSegments = 1
	plain := pol
	plain.SmartEncoding = false
	dev := func(lang string, tags map[string]string) *store.Device {
		d := &store.Device{Phone: "+4915112000020", Language: lang, Tags: map[string]json.RawMessage{}}
		for k, v := range tags {
			d.Tags[k] = json.RawMessage(v)
		}
		return d
	}
	const localized = `{"en":"Hello {Name|CapitalizeFirst|there}","de":"Hallo {Name|CapitalizeFirst|du}","fr":"Bonjour {Name|CapitalizeFirst|toi}"}`
	for _, c := range []struct {
		name string
		l    store.Loaded
		pol  config.Resolved
		// want: the composed SMS, or the fate and reason/failure.
		fate     fate
		reason   string
		text     string
		from     string
		parts    int
		encoding string
		failure  store.Outcome
	}{
		{name: "plain text", l: store.Loaded{Content: `"hi"`}, pol: pol,
			fate: fateSend, text: "hi", from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "device language de", l: store.Loaded{Content: localized, Device: dev("de", map[string]string{"Name": `"jürgen"`})}, pol: pol,
			fate: fateSend, text: "Hallo Jürgen", from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "device language fr-CA takes fr", l: store.Loaded{Content: localized, Device: dev("fr-CA", map[string]string{"name": `"amélie"`})}, pol: pol,
			fate: fateSend, text: "Bonjour Amélie", from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "unknown language takes en", l: store.Loaded{Content: localized, Device: dev("pt", nil)}, pol: pol,
			fate: fateSend, text: "Hello there", from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "no device takes en with the tag's default", l: store.Loaded{Content: localized}, pol: pol,
			fate: fateSend, text: "Hello there", from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "request placeholders before device tags", l: store.Loaded{Content: `"Code {Code||}"`, Placeholders: `{"Code":4711}`,
			Device: dev("", map[string]string{"Code": `"1"`})}, pol: pol,
			fate: fateSend, text: "Code 4711", from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "missing tag without default is suppressed", l: store.Loaded{Content: `"Hi {FirstName|CapitalizeFirst}"`, Device: dev("", nil)}, pol: pol,
			fate: fateSuppress, reason: ReasonMissingTag},
		{name: "too many segments fails too_long", l: store.Loaded{Content: `"` + strings.Repeat("a", 161) + `"`}, pol: short,
			fate: fateFail, failure: store.Outcome{Error: ErrorTooLong, Segments: 2, Encoding: sms.GSM7}},
		{name: "too many UCS-2 segments fails too_long", l: store.Loaded{Content: `"` + strings.Repeat("я", 71) + `"`}, pol: short,
			fate: fateFail, failure: store.Outcome{Error: ErrorTooLong, Segments: 2, Encoding: sms.UCS2}},
		{name: "at the segment limit goes", l: store.Loaded{Content: `"` + strings.Repeat("a", 160) + `"`}, pol: short,
			fate: fateSend, text: strings.Repeat("a", 160), from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "smart encoding keeps GSM-7", l: store.Loaded{Content: `"it’s"`}, pol: pol,
			fate: fateSend, text: "it's", from: DefaultSender, parts: 1, encoding: sms.GSM7},
		{name: "without smart encoding UCS-2", l: store.Loaded{Content: `"it’s"`}, pol: plain,
			fate: fateSend, text: "it’s", from: DefaultSender, parts: 1, encoding: sms.UCS2},
		{name: "sender: the notification's first", l: store.Loaded{Content: `"hi"`, Sender: "Notif"}, pol: appSender,
			fate: fateSend, text: "hi", from: "Notif", parts: 1, encoding: sms.GSM7},
		{name: "sender: the application's next", l: store.Loaded{Content: `"hi"`}, pol: appSender,
			fate: fateSend, text: "hi", from: "AppName", parts: 1, encoding: sms.GSM7},
		{name: "sender: the default last", l: store.Loaded{Content: `"hi"`}, pol: pol,
			fate: fateSend, text: "hi", from: DefaultSender, parts: 1, encoding: sms.GSM7},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Sender{Texts: NewTextCache(16)}
			it := &item{l: c.l, pol: c.pol, verdict: verdict{fate: fateSend}}
			s.compose([]*item{it})
			if it.verdict.fate != c.fate || it.verdict.reason != c.reason {
				t.Fatalf("fate %v %q, want %v %q", it.verdict.fate, it.verdict.reason, c.fate, c.reason)
			}
			want := composed{text: c.text, parts: c.parts, encoding: c.encoding, from: c.from, failure: c.failure}
			if !reflect.DeepEqual(it.msg, want) {
				t.Fatalf("composed %+v, want %+v", it.msg, want)
			}
		})
	}
}

func TestComposeBrokenStoredContentFails(t *testing.T) {
	s := &Sender{Texts: NewTextCache(16)}
	it := &item{l: store.Loaded{Content: `{"en":`}, pol: testPolicy(), verdict: verdict{fate: fateSend}}
	s.compose([]*item{it})
	if it.verdict.fate != fateFail || !strings.HasPrefix(it.msg.failure.Error, "render_failed: ") {
		t.Fatalf("fate %v, failure %+v; want failed with the render error", it.verdict.fate, it.msg.failure)
	}
}

// TestComposeWhatLoadRead composes from the store's own records: the
// device's language and tags, the message's content and sender.
func TestComposeWhatLoadRead(t *testing.T) {
	f := newFixture(t)
	const phone = "+4915112000021"
	f.device(phone, "de", map[string]json.RawMessage{"Name": json.RawMessage(`"jürgen"`)})
	id := f.create(msg{content: `{"en":"Hi {Name|CapitalizeFirst}","de":"Hallo {Name|CapitalizeFirst}"}`, sender: "Shop"}, phone)
	noTag := "+4915112000022"
	f.device(noTag, "de", nil)
	idNoTag := f.create(msg{content: `{"en":"Hi {Name|CapitalizeFirst}","de":"Hallo {Name|CapitalizeFirst}"}`}, noTag)
	items, err := f.s.load(f.ctx, []store.SMSRef{ref(id, phone), ref(idNoTag, noTag)})
	if err != nil {
		t.Fatal(err)
	}
	f.s.compose(live(items))
	if got := items[0].msg; items[0].verdict.fate != fateSend || got.text != "Hallo Jürgen" || got.from != "Shop" {
		t.Fatalf("composed %+v (fate %v)", got, items[0].verdict.fate)
	}
	if v := items[1].verdict; v.fate != fateSuppress || v.reason != ReasonMissingTag {
		t.Fatalf("missing tag: %v %q", v.fate, v.reason)
	}
	// Settled, the missing tag is a suppression recorded with its reason.
	if err := f.s.settle(f.ctx, items[1]); err != nil {
		t.Fatal(err)
	}
	if r := f.rec(idNoTag); r.Status != sms.Suppressed || r.Reason != ReasonMissingTag || r.Attempts != 0 {
		t.Fatalf("record %+v, want suppressed missing_tag without an attempt", r)
	}
}
