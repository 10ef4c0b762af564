package monitor

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// What the masking must leave alone, and the numbers it must hide.
const (
	fmtID     = "AAAA-00000000-0000000A.2719310ffff5b6e5" // its digits once became ...2719*10ffff5b6e5
	fmtDigits = "AAAA-00000000-0000000A.2719310444555666" // an id whose hex part is all digits
	fmtTime   = "2026-01-01T10:43:00.123456789Z"          // once 2026**01T10:43
	fmtDur    = "1m30.123456789s"
	fmtHex    = "0123456789abcdef0123456789abcdef"
	fmtPhone  = "+447911123456"
	fmtMasked = "+4479******56"
	fmtBare   = "4915112345678"
	fmtBareM  = "4915*******78"
)

func TestMaskPayload(t *testing.T) {
	event, _ := json.Marshal(outcomes.Event{EventID: fmtID + ":failed", MessageCode: "AAAA-00000000-0000000A", SMSID: fmtID,
		Application: "SHOP1-00001", Phone: fmtPhone, Status: "failed", Reason: "provider said 4915112345678 is barred", Time: time.Date(2026, 1, 1, 10, 43, 0, 123456789, time.UTC)})
	tests := []struct {
		name, in  string
		keep      []string // must be shown as they are
		hide      []string // must not be shown
		wantAlso  []string // must be shown (the masked forms)
		exactWant string   // when set, the whole output
	}{
		{name: "status callback event", in: string(event),
			keep: []string{`"sms_id":"` + fmtID + `"`, `"event_id":"` + fmtID + `:failed"`, `"time":"` + fmtTime + `"`, `"application":"SHOP1-00001"`},
			hide: []string{fmtPhone, fmtBare}, wantAlso: []string{`"phone":"` + fmtMasked + `"`, "provider said " + fmtBareM + " is barred"}},
		{name: "phones by field", in: `{"to":"+44 7911 123456","from":"` + fmtBare + `","msisdn":447911123456,"recipients":["` + fmtPhone + `"],"sender":"DEMO","id":"` + fmtDigits + `"}`,
			keep: []string{`"sender":"DEMO"`, `"id":"` + fmtDigits + `"`}, hide: []string{"7911 123456", fmtBare, "447911123456"},
			wantAlso: []string{`"to":"` + fmtMasked + `"`, `"from":"` + fmtBareM + `"`, `"msisdn":"4479******56"`, `"recipients":["` + fmtMasked + `"]`}},
		{name: "an alphanumeric sender in a phone field", in: `{"to":"DEMO","from":"` + fmtPhone + `"}`, keep: []string{`"to":"DEMO"`}, wantAlso: []string{`"from":"` + fmtMasked + `"`}},
		{name: "ids, times, durations and hex in fields", in: `{"sms":"` + fmtID + `","at":"` + fmtTime + `","after":"` + fmtDur + `","trace":"` + fmtHex + `","ms":1767225600000}`,
			keep: []string{fmtID, fmtTime, fmtDur, fmtHex, "1767225600000"}},
		{name: "free text", in: "sms " + fmtID + " to " + fmtPhone + " failed at " + fmtTime + " after " + fmtDur + " (trace " + fmtHex + ")",
			exactWant: "sms " + fmtID + " to " + fmtMasked + " failed at " + fmtTime + " after " + fmtDur + " (trace " + fmtHex + ")"},
		{name: "a bare number in free text", in: "dest " + fmtBare + " rejected", exactWant: "dest " + fmtBareM + " rejected"},
		{name: "a JSON string", in: `"to ` + fmtPhone + `"`, exactWant: `"to ` + fmtMasked + `"`},
		{name: "not printable", in: "\xff\xfe", exactWant: "non-printable bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for which, got := range map[string]string{
				"payload": formatUnknown([]byte(tt.in)),
				"result":  resultFormatter.FormatResult("x", []byte(tt.in)),
			} {
				if tt.exactWant != "" && got != tt.exactWant {
					t.Errorf("%s %q, want %q", which, got, tt.exactWant)
				}
				for _, k := range append(tt.keep, tt.wantAlso...) {
					if !strings.Contains(got, k) {
						t.Errorf("%s %s: want %s", which, got, k)
					}
				}
				for _, h := range tt.hide {
					if strings.Contains(got, h) {
						t.Errorf("%s %s shows %s", which, got, h)
					}
				}
			}
		})
	}
}

// TestSendPayloadWithAppAndPhone: a send task carries "id\napp\nphone";
// it is shown as the SMS it names (not as text with its id mangled), with
// the phone masked even when the record is gone.
func TestSendPayloadWithAppAndPhone(t *testing.T) {
	f := NewFormatter(testenv.NewRedis(t).Client(t))
	payload := tasks.SendFor(tasks.SendPayload{ID: fmtDigits, App: "SHOP1-00001", Phone: fmtPhone}, "otp", 1, 3, time.Minute).Payload()
	got := f.FormatPayload(tasks.TypeSend, payload)
	for _, want := range []string{`"sms":"` + fmtDigits + `"`, `"message":"AAAA-00000000-0000000A"`, `"application":"SHOP1-00001"`, `"to":"` + fmtMasked + `"`, `"record":"not found`} {
		if !strings.Contains(got, want) {
			t.Errorf("payload %s: want %s", got, want)
		}
	}
	if strings.Contains(got, fmtPhone) {
		t.Errorf("payload %s shows the phone", got)
	}
}

func TestResultFormatter(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"no result (every smsfleet task)", "", NoResult},
		{"text", "posted: HTTP 204", "posted: HTTP 204"},
		{"JSON with a phone", `{"phone":"` + fmtPhone + `","status":204}`, `{"phone":"` + fmtMasked + `","status":204}`},
		{"not printable", "\xff\xfe", "non-printable bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := resultFormatter.FormatResult("sms:callback", []byte(c.in)); got != c.want {
				t.Fatalf("result %q shown as %q, want %q", c.in, got, c.want)
			}
		})
	}
}
