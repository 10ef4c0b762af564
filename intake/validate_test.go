package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/content"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

func TestCheckSender(t *testing.T) {
	pol := defaults()
	pol.Sender = "ShopCo"
	tests := []struct{ in, want, err string }{
		{"", "ShopCo", ""}, // the application's default
		{"Acme", "Acme", ""},
		{"12345", "12345", ""},
		{"+49 151 12000001", "+4915112000001", ""},
		{"Acme!", "", `n.sender: sender "Acme!" contains "!", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{"12", "", `n.sender: sender "12" is 2 digits: a short code has 3 to 8, a phone number needs a leading + and country code`},
	}
	for _, tt := range tests {
		got, err := checkSender(tt.in, "n", pol)
		wantArg(t, err, tt.err)
		if got != tt.want {
			t.Errorf("checkSender(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckValidity(t *testing.T) {
	pol := defaults()
	tests := []struct {
		v    *int64
		typ  sms.Type
		want time.Duration
		err  string
	}{
		{nil, sms.OTP, 300 * time.Second, ""},
		{nil, sms.Transactional, 24 * time.Hour, ""},
		{nil, sms.Marketing, 72 * time.Hour, ""},
		{ptr[int64](1), sms.OTP, time.Second, ""},
		{ptr[int64](604800), sms.Marketing, 7 * 24 * time.Hour, ""},
		{ptr[int64](0), sms.OTP, 0, "n.validity: must be from 1 to 604800 seconds (7 days), got 0"},
		{ptr[int64](604801), sms.OTP, 0, "n.validity: must be from 1 to 604800 seconds (7 days), got 604801"},
		{ptr[int64](-5), sms.OTP, 0, "n.validity: must be from 1 to 604800 seconds (7 days), got -5"},
		// Seconds whose conversion to a Duration overflows int64 and
		// wrapped into the allowed range.
		{ptr[int64](18446744075), sms.OTP, 0, "n.validity: must be from 1 to 604800 seconds (7 days), got 18446744075"},
		{ptr[int64](-18446744072), sms.OTP, 0, "n.validity: must be from 1 to 604800 seconds (7 days), got -18446744072"},
		{ptr[int64](math.MaxInt64), sms.OTP, 0, "n.validity: must be from 1 to 604800 seconds (7 days), got 9223372036854775807"},
		{ptr[int64](math.MinInt64), sms.OTP, 0, "n.validity: must be from 1 to 604800 seconds (7 days), got -9223372036854775808"},
	}
	for _, tt := range tests {
		got, err := checkValidity(tt.v, "n", tt.typ, pol)
		wantArg(t, err, tt.err)
		if got != tt.want {
			t.Errorf("checkValidity(%v, %s) = %s, want %s", tt.v, tt.typ, got, tt.want)
		}
	}
}

func TestCheckCapping(t *testing.T) {
	tests := []struct {
		days, count         *int
		wantDays, wantCount int
		err                 string
	}{
		{nil, nil, 0, 0, ""},
		{ptr(1), ptr(1), 1, 1, ""},
		{ptr(30), ptr(1000), 30, 1000, ""},
		{nil, ptr(3), 0, 0, "n.capping_days: required with capping_count"},
		{ptr(3), nil, 0, 0, "n.capping_count: required with capping_days"},
		{ptr(0), ptr(3), 0, 0, "n.capping_days: must be from 1 to 30, got 0"},
		{ptr(31), ptr(3), 0, 0, "n.capping_days: must be from 1 to 30, got 31"},
		{ptr(7), ptr(0), 0, 0, "n.capping_count: must be from 1 to 1000, got 0"},
		{ptr(7), ptr(1001), 0, 0, "n.capping_count: must be from 1 to 1000, got 1001"},
	}
	for _, tt := range tests {
		d, c, err := checkCapping(tt.days, tt.count, "n")
		wantArg(t, err, tt.err)
		if d != tt.wantDays || c != tt.wantCount {
			t.Errorf("checkCapping = %d, %d; want %d, %d", d, c, tt.wantDays, tt.wantCount)
		}
	}
}

func TestCheckPlaceholders(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{``, "", ""},
		{`null`, "", ""},
		{`  {"name": "Ann", "n": 3, "vip": true}  `, `{"name": "Ann", "n": 3, "vip": true}`, ""},
		{`{}`, `{}`, ""},
		{`[1]`, "", "p: must be an object of tag name to value"},
		{`"x"`, "", "p: must be an object of tag name to value"},
		{`{"list": ["a"]}`, "", "p.list: must be a string, number or boolean"},
		{`{"nothing": null}`, "", "p.nothing: must be a string, number or boolean"},
		{`{"obj": {}}`, "", "p.obj: must be a string, number or boolean"},
	}
	for _, tt := range tests {
		got, err := checkPlaceholders(json.RawMessage(tt.in), "p")
		wantArg(t, err, tt.err)
		if got != tt.want {
			t.Errorf("checkPlaceholders(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckContent(t *testing.T) {
	pol := defaults()
	pol.MaxSegments = 2
	long := strings.Repeat("a", 161*2) // 3 GSM-7 segments
	tests := []struct {
		name, in string
		want     content.Localized
		err      string
	}{
		{"plain", `"Hello"`, content.Localized{{Text: "Hello"}}, ""},
		{"template", `"Hi {name|CapitalizeFirst|there}"`, content.Localized{{Text: "Hi {name|CapitalizeFirst|there}"}}, ""},
		{"braces are literal text", `"{}"`, content.Localized{{Text: "{}"}}, ""},
		{"unterminated placeholder", `"Hallo {name|"`, nil, "c: unterminated placeholder at position 7"},
		{"languages in order", `{"de":"Hallo","en":"Hello"}`, content.Localized{{Lang: "de", Text: "Hallo"}, {Lang: "en", Text: "Hello"}}, ""},
		{"empty string", `""`, nil, "c: must not be empty"},
		{"a number", `5`, nil, `c: must be a string or an object of language to text, like {"en": "...", "de": "..."}`},
		{"language not a string", `{"de": 5}`, nil, "c.de: must be a string"},
		{"empty language", `{"de": ""}`, nil, "c.de: must not be empty"},
		{"bad language code", `{"": "x"}`, nil, `c: language codes must be 1 to 16 characters, got ""`},
		{"no language", `{}`, nil, "c: has no language: give at least one text"},
		{"over the segment limit", `"` + long + `"`, nil, "c: 3 segments (gsm7), more than the maximum of 2"},
		{"per language limit", `{"en":"ok","de":"` + long + `"}`, nil, "c.de: 3 segments (gsm7), more than the maximum of 2"},
		{"NUL", `"a\u0000b"`, nil, "c: must not contain NUL characters"},
		{"NUL in a language", `{"en":"ok","de":"a\u0000"}`, nil, "c.de: must not contain NUL characters"},
		{"invalid UTF-8", "\"caf\xe9\"", nil, "c: is not valid UTF-8"},
		{"invalid UTF-8 in a language", "{\"de\":\"\xff\xfe\"}", nil, "c: is not valid UTF-8"},
		{"lone surrogate escape", `"a\ud800b"`, nil, `c: contains an invalid \u escape (a lone UTF-16 surrogate)`},
		{"lone surrogate in a language", `{"en":"ok","de":"\udc00"}`, nil, `c.de: contains an invalid \u escape (a lone UTF-16 surrogate)`},
		{"U+FFFD sent as is", `"a�b"`, content.Localized{{Text: "a\uFFFDb"}}, ""},
		{"U+FFFD sent escaped", `"a\uFFFDb"`, content.Localized{{Text: "a\uFFFDb"}}, ""},
		{"a surrogate pair", `"\ud83d\ude00"`, content.Localized{{Text: "\U0001F600"}}, ""},
		{"a template is limited per recipient", `"{name|CapitalizeFirst|} ` + long + `"`, content.Localized{{Text: "{name|CapitalizeFirst|} " + long}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkContent(json.RawMessage(tt.in), "c", pol)
			wantArg(t, err, tt.err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestCheckContentBrokenTemplateNamesLanguage(t *testing.T) {
	_, err := checkContent(json.RawMessage(`{"en":"ok","de":"Hallo {name|"}`), "n.content", defaults())
	wantArg(t, err, "n.content.de: unterminated placeholder at position 7")
}

func TestValidateTags(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"every kind", `{"s":"x","n":1.5,"b":true,"l":["a","b"],"del":null}`, ""},
		{"none", `{}`, ""},
		{"empty name", `{"":"x"}`, "tags: tag names must be 1 to 128 characters"},
		{"long name", `{"` + strings.Repeat("t", 129) + `":"x"}`, "tags: tag names must be 1 to 128 characters"},
		{"list of numbers", `{"l":["a",1]}`, "tags.l: a list tag must hold strings only"},
		{"object", `{"o":{"a":1}}`, "tags.o: must be a string, number, boolean, list of strings or null"},
		{"100 tags", manyTags(100), ""},
		{"101 tags", manyTags(101), "tags: at most 100 tags per request, got 101"},
		{"5000 tags", manyTags(5000), "tags: at most 100 tags per request, got 5000"},
		{"NUL in a name", `{"a\u0000b":"x"}`, `tags: tag name "a\x00b" must be valid UTF-8 without control characters`},
		{"newline in a name", `{"a\nb":"x"}`, `tags: tag name "a\nb" must be valid UTF-8 without control characters`},
		{"128-byte name", `{"` + strings.Repeat("t", 128) + `":"x"}`, ""},
		{"4 KiB value", `{"v":"` + strings.Repeat("v", 4<<10-2) + `"}`, ""},
		{"value over 4 KiB", `{"v":"` + strings.Repeat("v", 4<<10-1) + `"}`, "tags.v: value is 4097 bytes of JSON, more than the maximum of 4096"},
		{"500 KB value", `{"big":"` + strings.Repeat("v", 500_000) + `"}`, "tags.big: value is 500002 bytes of JSON, more than the maximum of 4096"},
		{"long list", `{"l":[` + strings.Repeat(`"aaaa",`, 1000) + `"a"]}`, "tags.l: value is 7005 bytes of JSON, more than the maximum of 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tags map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.in), &tags); err != nil {
				t.Fatal(err)
			}
			wantArg(t, validateTags(tags), tt.err)
		})
	}
	// A value that is not JSON cannot come from a decoded request, but the
	// function still names it.
	wantArg(t, validateTags(map[string]json.RawMessage{"x": json.RawMessage("{")}), "tags.x: not a JSON value")
}

func TestParseSendDateExact(t *testing.T) {
	tests := []struct {
		date, tz string
		want     time.Time
		wantZone string
		err      string
	}{
		{"now", "", testNow, "UTC", ""},
		{"now", "Europe/Berlin", testNow, "Europe/Berlin", ""},
		{"2026-11-24 13:15", "America/New_York", time.Date(2026, 11, 24, 18, 15, 0, 0, time.UTC), "America/New_York", ""},
		{"2026-11-24 11:59", "", time.Time{}, "", "n.send_date: 2026-11-24 11:59 is in the past"},
		{"2027-11-25 12:01", "", time.Time{}, "", "n.send_date: 2027-11-25 12:01 is more than a year ahead"},
		{"", "", time.Time{}, "", `n.send_date: required ("now" or YYYY-MM-DD HH:mm)`},
		{"tomorrow", "", time.Time{}, "", `n.send_date: must be "now" or YYYY-MM-DD HH:mm, got "tomorrow"`},
		{"now", "Mars/Base", time.Time{}, "", `n.timezone: unknown IANA time zone "Mars/Base"`},
		{"", "Mars/Base", time.Time{}, "", `n.timezone: unknown IANA time zone "Mars/Base"`}, // the zone is checked first
	}
	for _, tt := range tests {
		got, zone, err := parseSendDate(tt.date, tt.tz, testNow, "n")
		wantArg(t, err, tt.err)
		if !got.Equal(tt.want) || zone != tt.wantZone || (err == nil && got.Location() != time.UTC) {
			t.Errorf("parseSendDate(%q, %q) = %s %q, want %s %q", tt.date, tt.tz, got, zone, tt.want, tt.wantZone)
		}
	}
}

func TestCheckCallback(t *testing.T) {
	a := newAPIWith(nil)
	long := "https://example.com/" + strings.Repeat("x", 2048)
	tests := []struct{ app, in, want, err string }{
		{shop, "", "", ""},
		{bank, "", "", ""}, // no callback asked: no secret needed
		{shop, "https://example.com/cb?x=1", "https://example.com/cb?x=1", ""},
		{shop, "https://10.0.0.1:8443/cb", "https://10.0.0.1:8443/cb", ""}, // the SSRF guard is the POSTer's
		{shop, "ftp://example.com/cb", "", `cb: must be an absolute http or https URL, got "ftp://example.com/cb"`},
		{shop, "/relative", "", `cb: must be an absolute http or https URL, got "/relative"`},
		{shop, "https://", "", `cb: must be an absolute http or https URL, got "https://"`},
		{shop, "http://a b.com/%zz", "", `cb: must be an absolute http or https URL`}, // unparsable: not echoed
		{shop, long, "", "cb: longer than 2048 characters"},
		{bank, "https://example.com/cb", "", "cb: application " + bank + " has no callback secret to sign callbacks with (SMSFLEET_CALLBACK_SECRETS, or callback_secret in SMSFLEET_CONFIG)"},
	}
	for _, tt := range tests {
		got, err := a.checkCallback(tt.app, tt.in, "cb")
		wantArg(t, err, tt.err)
		if got != tt.want {
			t.Errorf("checkCallback(%s, %q) = %q, want %q", tt.app, tt.in, got, tt.want)
		}
	}
	a.CallbackSecret = nil // no secrets configured at all
	_, err := a.checkCallback(shop, "https://example.com/cb", "cb")
	wantArg(t, err, "cb: application "+shop+" has no callback secret to sign callbacks with (SMSFLEET_CALLBACK_SECRETS, or callback_secret in SMSFLEET_CONFIG)")
}

func TestPhoneAndDeviceArgs(t *testing.T) {
	a := newAPIWith(nil)
	tests := []struct{ raw, want, err string }{
		{`{"hwid":"+4915112000001"}`, "+4915112000001", ""},
		{`{"hwid":"015112000001"}`, "+4915112000001", ""}, // the default region
		{`{"hwid":" +49 151 1200 0001 "}`, "+4915112000001", ""},
		{`{}`, "", "hwid: required (the phone number)"},
		{`{"hwid":5}`, "", "hwid: must be a string, got number"},
		{`{"hwid":"+4915112000001","tags":[]}`, "", "tags: must be an object, got array"},
	}
	for _, tt := range tests {
		_, got, err := a.deviceArgs(json.RawMessage(tt.raw))
		wantArg(t, err, tt.err)
		if got != tt.want {
			t.Errorf("deviceArgs(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
	_, err := a.phone("hello")
	wantArg(t, err, `hwid: not a valid phone number: "hello": the phone number supplied is not a number`)
}

// zoneWant starts registerDevice's error for a time zone it cannot read.
const zoneWant = `timezone: must be an offset in seconds (3600), an offset like "+01:00" or an IANA name like "Europe/Berlin"`

func TestCheckRegistration(t *testing.T) {
	a := newAPIWith(nil)
	tests := []struct{ raw, want, err string }{
		{`{"hwid":"+4915112000001","device_type":18}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":"Europe/Berlin","tags":{"a":"b"},"userId":"u1"}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001"}`, "", "device_type: required (18 for SMS)"},
		{`{"hwid":"+4915112000001","device_type":3}`, "", "device_type: must be 18 (SMS), got 3"},
		{`{"device_type":18}`, "", "hwid: required (the phone number)"},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":"Mars/Base"}`, "", zoneWant + `: unknown time zone "Mars/Base"`},
		// Pushwoosh's Device API sends an offset in seconds; offsets as
		// strings are accepted too (issue 16).
		{`{"hwid":"+4915112000001","device_type":18,"timezone":3600}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":-16200}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":"+05:30"}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":null}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":3601}`, "", zoneWant + `: offset 3601 s is not a whole number of minutes`},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":90000}`, "", zoneWant + `: offset 90000 s is outside UTC-12:00…UTC+14:00 (-43200…50400)`},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":1.5}`, "", zoneWant + `: an offset in seconds is a whole number, got 1.5`},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":"+25:00"}`, "", zoneWant + `: offset "+25:00" is outside UTC-12:00…UTC+14:00`},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":true}`, "", zoneWant + `, got a boolean`},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":{}}`, "", zoneWant + `, got an object`},
		{`{"hwid":"+4915112000001","device_type":18,"tags":{"l":[1]}}`, "", "tags.l: a list tag must hold strings only"},
		{`{"hwid":"+4915112000001","device_type":18,"userId":"` + strings.Repeat("u", 257) + `"}`, "", "userId: longer than 256 characters"},
		{`{"hwid":"+4915112000001","device_type":"18"}`, "", "device_type: must be a number, got string"},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":"Local"}`, "", zoneWant + `: unknown time zone "Local"`},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":"local"}`, "", zoneWant + `: unknown time zone "local"`},
		{`{"hwid":"+4915112000001","device_type":18,"timezone":"UTC","language":"de-AT"}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001","device_type":18,"language":"zh-Hant-TW"}`, "+4915112000001", ""},
		{`{"hwid":"+4915112000001","device_type":18,"language":"` + strings.Repeat("a", 36) + `"}`, "", "language: must be a BCP 47 language code of at most 35 characters, got 36"},
		{`{"hwid":"+4915112000001","device_type":18,"language":"en\u0000"}`, "", `language: must be a BCP 47 language code like "en" or "de-AT", got "en\x00"`},
		{`{"hwid":"+4915112000001","device_type":18,"language":"not a language"}`, "", `language: must be a BCP 47 language code like "en" or "de-AT", got "not a language"`},
		{`{"hwid":"+4915112000001","device_type":18,"tags":` + manyTags(101) + `}`, "", "tags: at most 100 tags per request, got 101"},
	}
	for _, tt := range tests {
		_, got, err := a.registrationArgs(json.RawMessage(tt.raw))
		wantArg(t, err, tt.err)
		if got != tt.want {
			t.Errorf("registrationArgs(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestPageParams(t *testing.T) {
	tests := []struct {
		query      string
		limit      int
		cursor     int64
		err        string
		errIsLimit bool
	}{
		{"", 100, 0, "", false},
		{"limit=1&cursor=0", 1, 0, "", false},
		{"limit=1000&cursor=12345", 1000, 12345, "", false},
		{"limit=0", 0, 0, "limit must be an integer from 1 to 1000", true},
		{"limit=1001", 0, 0, "limit must be an integer from 1 to 1000", true},
		{"limit=ten", 0, 0, "limit must be an integer from 1 to 1000", true},
		{"cursor=-1", 0, 0, "cursor must be a value from next_cursor", false},
		{"cursor=abc", 0, 0, "cursor must be a value from next_cursor", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/messages?"+tt.query, nil)
		limit, cursor, err := pageParams(r)
		if tt.err != "" {
			wantErr(t, err, 400, 400, tt.err)
		} else if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if limit != tt.limit || cursor != tt.cursor {
			t.Errorf("pageParams(%s) = %d, %d; want %d, %d", tt.query, limit, cursor, tt.limit, tt.cursor)
		}
	}
}

func TestArgErrorFromJSON(t *testing.T) {
	decode := func(raw string, v any, prefix string) error { return decodeArgs(json.RawMessage(raw), v, prefix) }
	var n notification
	wantArg(t, decode(`{"devices": 5}`, &n, "notifications[0]"), "notifications[0].devices: must be an array, got non-string")
	wantArg(t, decode(`{"validity": "1h"}`, &n, "notifications[0]"), "notifications[0].validity: must be a number, got string")
	wantArg(t, decode(`{"ignore_user_timezone": "no"}`, &n, "n"), "n.ignore_user_timezone: must be a boolean, got string")
	wantArg(t, decode(`{"platforms": {}}`, &n, "n"), "n.platforms: must be an array, got object")
	var req createRequest
	wantArg(t, decode(`{"notifications": "x"}`, &req, ""), "notifications: must be an array, got string")
	// A type error on the whole value names the prefix, or "request".
	wantArg(t, decode(`[]`, &n, "notifications[3]"), "notifications[3]: must be an object, got array")
	wantArg(t, decode(`[]`, &n, ""), "request: must be an object, got array")
	// Not JSON at all is a 400.
	wantErr(t, argErrorFromJSON(errors.New("boom"), "x"), 400, 400, "malformed JSON: boom")
	// An apiError raised while decoding passes through unchanged.
	inner := argError("x.y", "bad")
	if got := argErrorFromJSON(inner, "p"); got != error(inner) {
		t.Fatalf("got %v, want the inner error itself", got)
	}
}

func TestJSONKind(t *testing.T) {
	for k, want := range map[string]string{
		"string": "a string", "slice": "an array", "array": "an array", "map": "an object", "struct": "an object",
		"bool": "a boolean", "int64": "a number", "float64": "a number",
	} {
		if got := jsonKind(k); got != want {
			t.Errorf("jsonKind(%s) = %q, want %q", k, got, want)
		}
	}
}

func TestReadRequest(t *testing.T) {
	a := newAPIWith(nil) // MaxBodyBytes 1 KiB
	tests := []struct {
		name, body string
		want       string
		status     int
		err        string
	}{
		{"ok", `{"request": {"application": "A"}}`, `{"application": "A"}`, 0, ""},
		{"not JSON", `{"request": `, "", 400, "malformed JSON: unexpected EOF"},
		{"trailing data", `{"request": {}} {}`, "", 400, "malformed JSON: trailing data after the request object"},
		{"no request", `{"req": {}}`, "", 400, `malformed request: body must be {"request": {...}}`},
		{"request not an object", `{"request": [1]}`, "", 400, `malformed request: body must be {"request": {...}}`},
		// Not an object at the top: no Go type names (struct { Request ... }).
		{"body an array", `[]`, "", 400, `malformed request: body must be {"request": {...}}, got array`},
		{"body a string", `"x"`, "", 400, `malformed request: body must be {"request": {...}}, got string`},
		{"body a number", `5`, "", 400, `malformed request: body must be {"request": {...}}, got number`},
		{"too large", `{"request": {"x": "` + strings.Repeat("a", 1024) + `"}}`, "", 413, "request body is larger than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/json/1.3/createMessage", strings.NewReader(tt.body))
			got, release, err := a.readRequest(r, true, serverToken)
			if tt.err != "" {
				wantErr(t, err, tt.status, tt.status, tt.err)
				return
			}
			defer release()
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	a := newAPIWith(nil)
	tests := []struct {
		name, raw, header string
		need              access
		app               string
		status, code      int
		err               string
	}{
		{"server token in body", `{"auth":"shop-server"}`, "", serverToken, shop, 0, 0, ""},
		{"server token in header", `{"application":"SHOP1-00001"}`, "Token shop-server", serverToken, shop, 0, 0, ""},
		{"body wins over header", `{"auth":"bank-server"}`, "Token shop-server", serverToken, bank, 0, 0, ""},
		{"device token for a device call", `{"application":"SHOP1-00001","auth":"shop-device"}`, "", deviceToken, shop, 0, 0, ""},
		{"open application without token", `{"application":"OPEN1-00003"}`, "", deviceToken, open, 0, 0, ""},
		{"open application needs a token for server calls", `{"application":"OPEN1-00003"}`, "", serverToken, "", 401, 401, "missing auth token (request.auth or Authorization: Token ...)"},
		{"no token", `{"application":"SHOP1-00001"}`, "", deviceToken, "", 401, 401, "missing auth token (request.auth or Authorization: Token ...)"},
		{"unknown token", `{"auth":"nope"}`, "", serverToken, "", 401, 401, "invalid auth token"},
		{"unknown application", `{"application":"NOPE","auth":"shop-server"}`, "", serverToken, "", 200, 210, `application: unknown application code "NOPE"`},
		{"device call needs the application", `{"auth":"shop-device"}`, "", deviceToken, "", 200, 210, "application: required"},
		{"another application's token", `{"application":"BANK1-00002","auth":"shop-server"}`, "", serverToken, "", 403, 403, "auth token does not grant access to application BANK1-00002"},
		{"device token for a server call", `{"application":"SHOP1-00001","auth":"shop-device"}`, "", serverToken, "", 403, 403, "this method needs the application's server token, not its device token"},
		{"application not a string", `{"application":5}`, "", serverToken, "", 200, 210, "application: must be a string, got number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/json/1.3/x", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			app, err := a.authorize(r, json.RawMessage(tt.raw), tt.need)
			if tt.err != "" {
				wantErr(t, err, tt.status, tt.code, tt.err)
				return
			}
			if err != nil || app != tt.app {
				t.Fatalf("got %q, %v; want %q", app, err, tt.app)
			}
		})
	}
}

func TestAppFromHeader(t *testing.T) {
	a := newAPIWith(nil)
	tests := []struct {
		header, app string
		status      int
		err         string
	}{
		{"Token bank-server", bank, 0, ""},
		{"", "", 401, "missing Authorization: Token header"},
		{"Bearer bank-server", "", 401, "missing Authorization: Token header"},
		{"Token nope", "", 401, "invalid auth token"},
		{"Token shop-device", "", 403, "the native API needs the application's server token"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/messages", nil)
		r.Header.Set("Authorization", tt.header)
		app, err := a.appFromHeader(r)
		if tt.err != "" {
			wantErr(t, err, tt.status, tt.status, tt.err)
		} else if err != nil || app != tt.app {
			t.Errorf("%q: got %q, %v", tt.header, app, err)
		}
	}
}

func TestCheckDeliveryWait(t *testing.T) {
	tests := []struct {
		v    *int64
		want time.Duration
		err  string
	}{
		{nil, time.Hour, ""},
		{ptr[int64](1), time.Second, ""},
		{ptr[int64](604800), 7 * 24 * time.Hour, ""},
		{ptr[int64](0), 0, "n.delivery_wait: must be from 1 to 604800 seconds (7 days), got 0"},
		{ptr[int64](604801), 0, "n.delivery_wait: must be from 1 to 604800 seconds (7 days), got 604801"},
	}
	for _, tt := range tests {
		got, err := checkDeliveryWait(tt.v, "n", time.Hour)
		wantArg(t, err, tt.err)
		if got != tt.want {
			t.Errorf("checkDeliveryWait(%v) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

// TestCheckNotification checks a notification's own fields with no store
// at all: the part of planNotification that needs no I/O.
func TestCheckNotification(t *testing.T) {
	a := newAPIWith(nil)
	n := notification{
		SendDate: "2026-11-24 18:00", Timezone: "Europe/Berlin", MessageType: "marketing", TransactionID: "tx",
		Devices: stringList{"a", "b"}, Users: stringList{"c"}, Sender: "Acme", Validity: ptr[int64](60), DeliveryWait: ptr[int64](30),
		StatusCallback: "https://example.com/cb", CappingDays: ptr(2), CappingCount: ptr(1),
		DynamicContentPlaceholders: json.RawMessage(`{"a":1}`),
	}
	got, err := a.checkNotification(shop, "n", n, defaults(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Message{
		App: shop, Type: sms.Marketing, Placeholders: `{"a":1}`, Sender: "Acme", SendAt: time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC),
		Timezone: "Europe/Berlin", TransactionID: "tx", Validity: time.Minute, DeliveryWait: 30 * time.Second, CappingDays: 2, CappingCount: 1,
		ChunkSize: 2, StatusCallback: "https://example.com/cb",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	// Defaults for everything optional.
	got, err = a.checkNotification(shop, "n", notification{SendDate: "now", Devices: stringList{"a"}}, defaults(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	want = store.Message{App: shop, Type: sms.Transactional, Sender: defaults().Sender, SendAt: testNow, Timezone: "UTC",
		Validity: 24 * time.Hour, DeliveryWait: time.Hour, ChunkSize: 2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	// Recipient counts are checked before any lookup: devices and users
	// together.
	_, err = a.checkNotification(shop, "n", notification{SendDate: "now", Devices: stringList{"a", "b", "c"}, Users: stringList{"d", "e", "f"}}, defaults(), testNow)
	wantArg(t, err, "n.devices: more than 5 recipients")
}

// manyTags is an object of n tags.
func manyTags(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"t%d":%d`, i, i)
	}
	b.WriteString("}")
	return b.String()
}
