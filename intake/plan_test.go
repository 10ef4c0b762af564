package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Phones of the plan tests: p1..p3 are registered with shop (p1 in
// Berlin, p2 in New York, p3 without a zone), p9 is not.
const (
	p1 = "+4915112000001"
	p2 = "+4915112000002"
	p3 = "+4915112000003"
	p9 = "+4915112000009"
)

// planAPI returns the API and the code of shop's preset "Welcome!".
func planAPI(t *testing.T) (*API, string) {
	t.Helper()
	a := newTestAPI(t)
	ctx := context.Background()
	for _, d := range []store.Device{
		{Phone: p1, UserID: "ann", Timezone: "Europe/Berlin"},
		{Phone: p2, UserID: "ann", Timezone: "America/New_York"},
		{Phone: p3, UserID: "bob"},
	} {
		if _, err := a.Store.RegisterDevice(ctx, shop, d); err != nil {
			t.Fatal(err)
		}
	}
	pr, err := a.Store.CreatePreset(ctx, shop, store.Preset{Name: "Welcome", Content: `"Welcome!"`})
	if err != nil {
		t.Fatal(err)
	}
	return a, pr.Code
}

// plan runs planNotification on n (a JSON object) for app.
func planOf(t *testing.T, a *API, app, n string) (plan, error) {
	t.Helper()
	return a.planNotification(context.Background(), app, "n", json.RawMessage(n))
}

func TestPlanNotificationErrors(t *testing.T) {
	a, welcome := planAPI(t)
	for i := 4; i <= 9; i++ { // six devices of one user: more than MaxRecipients (5)
		if _, err := a.Store.RegisterDevice(context.Background(), shop, store.Device{Phone: fmt.Sprintf("+491511200010%d", i), UserID: "many"}); err != nil {
			t.Fatal(err)
		}
	}
	ok := `"send_date":"now","content":"hi","devices":["` + p1 + `"]`
	tests := []struct{ name, app, n, err string }{
		{"not an object", shop, `[]`, "n: must be an object, got array"},
		{"field type", shop, `{"send_date":5}`, "n.send_date: must be a string, got number"},
		{"message type", shop, `{` + ok + `,"message_type":"sms"}`, `n.message_type: must be one of otp, transactional, marketing, got "sms"`},
		{"send date", shop, `{"content":"hi","devices":["` + p1 + `"]}`, `n.send_date: required ("now" or YYYY-MM-DD HH:mm)`},
		{"time zone", shop, `{` + ok + `,"timezone":"Mars/Base"}`, `n.timezone: unknown IANA time zone "Mars/Base"`},
		{"transaction id", shop, `{` + ok + `,"transactionId":"` + strings.Repeat("t", 129) + `"}`, "n.transactionId: longer than 128 characters"},
		{"no recipients", shop, `{"send_date":"now","content":"hi"}`, "n.devices: devices, users or conditions required: a notification without them goes to every SMS device of the application (Pushwoosh's \"all subscribers\"), which needs allow_broadcast: true for it in the configuration file"},
		{"empty lists", shop, `{"send_date":"now","content":"hi","devices":[],"users":[]}`, "n.devices: devices, users or conditions required: a notification without them goes to every SMS device of the application (Pushwoosh's \"all subscribers\"), which needs allow_broadcast: true for it in the configuration file"},
		{"too many recipients", shop, `{"send_date":"now","content":"hi","devices":["a","b","c"],"users":["d","e","f"]}`, "n.devices: more than 5 recipients"},
		{"sender", shop, `{` + ok + `,"sender":"Acme!"}`, `n.sender: sender "Acme!" contains "!", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{"validity", shop, `{` + ok + `,"validity":0}`, "n.validity: must be from 1 to 604800 seconds (7 days), got 0"},
		{"delivery wait low", shop, `{` + ok + `,"delivery_wait":0}`, "n.delivery_wait: must be from 1 to 604800 seconds (7 days), got 0"},
		{"delivery wait high", shop, `{` + ok + `,"delivery_wait":604801}`, "n.delivery_wait: must be from 1 to 604800 seconds (7 days), got 604801"},
		{"callback url", shop, `{` + ok + `,"status_callback":"ftp://x"}`, `n.status_callback: must be an absolute http or https URL, got "ftp://x"`},
		{"callback without secret", bank, `{` + ok + `,"status_callback":"https://example.com/cb"}`, "n.status_callback: application " + bank + " has no callback secret to sign callbacks with (SMSFLEET_CALLBACK_SECRETS, or callback_secret in SMSFLEET_CONFIG)"},
		{"capping", shop, `{` + ok + `,"capping_days":3}`, "n.capping_count: required with capping_days"},
		{"placeholders", shop, `{` + ok + `,"dynamic_content_placeholders":[1]}`, "n.dynamic_content_placeholders: must be an object of tag name to value"},
		{"no content", shop, `{"send_date":"now","devices":["` + p1 + `"]}`, "n.content: required (the SMS text, or a preset)"},
		{"null content", shop, `{"send_date":"now","content":null,"devices":["` + p1 + `"]}`, "n.content: required (the SMS text, or a preset)"},
		{"bad content", shop, `{"send_date":"now","content":{"de":5},"devices":["` + p1 + `"]}`, "n.content.de: must be a string"},
		{"unknown preset", shop, `{"send_date":"now","preset":"nope","devices":["` + p1 + `"]}`, `n.preset: unknown preset code "nope"`},
		{"another application's preset", bank, `{"send_date":"now","preset":"` + welcome + `","devices":["` + p1 + `"]}`, `n.preset: unknown preset code "` + welcome + `"`},
		{"bad device", shop, `{"send_date":"now","content":"hi","devices":["` + p1 + `","hello"]}`, `n.devices[1]: not a valid phone number: "hello": the phone number supplied is not a number`},
		{"empty user", shop, `{"send_date":"now","content":"hi","users":["ann",""]}`, "n.users[1]: empty user id"},
		{"users resolve to too many", shop, `{"send_date":"now","content":"hi","users":["many"]}`, "n.users: resolves to 6 recipients, more than the maximum of 5"},
		// The checks run in order: the first failing field is reported.
		{"first error wins", shop, `{"send_date":"now","message_type":"sms","sender":"Acme!"}`, `n.message_type: must be one of otp, transactional, marketing, got "sms"`},
		{"sender before validity", shop, `{` + ok + `,"sender":"Acme!","validity":0}`, `n.sender: sender "Acme!" contains "!", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{"capping before content", shop, `{"send_date":"now","devices":["` + p1 + `"],"capping_count":3}`, "n.capping_days: required with capping_count"},
		{"content before devices", shop, `{"send_date":"now","devices":["hello"]}`, "n.content: required (the SMS text, or a preset)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planOf(t, a, tt.app, tt.n)
			wantArg(t, err, tt.err)
			if !reflect.DeepEqual(p, plan{}) {
				t.Fatalf("a failed plan carries data: %+v", p)
			}
		})
	}
}

func TestPlanNotificationDirect(t *testing.T) {
	a, _ := planAPI(t)
	p, err := planOf(t, a, shop, `{"send_date":"now","content":"Hello","devices":["015112000001"],"message_type":"otp",
		"transactionId":"tx-1","dynamic_content_placeholders":{"name":"Ann"},"status_callback":"https://example.com/cb"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := plan{
		msg: store.Message{
			App: shop, Type: sms.OTP, Content: `"Hello"`, Placeholders: `{"name":"Ann"}`, Sender: defaults().Sender, SendAt: testNow,
			Timezone: "UTC", TransactionID: "tx-1", Validity: 300 * time.Second, DeliveryWait: time.Hour, ChunkSize: 2,
			StatusCallback: "https://example.com/cb", Direct: true, Redact: true, // an OTP is redacted by default
		},
		audiences: []store.Audience{{Zone: "UTC", SendAt: testNow, Phones: []string{p1}}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan\n%+v\nwant\n%+v", p, want)
	}
}

func TestPlanNotificationSettings(t *testing.T) {
	a, welcome := planAPI(t)
	p, err := planOf(t, a, shop, `{"send_date":"now","preset":"`+welcome+`","devices":"`+p1+`","message_type":"marketing",
		"sender":"Acme","validity":600,"delivery_wait":120,"capping_days":7,"capping_count":2}`)
	if err != nil {
		t.Fatal(err)
	}
	m := p.msg
	if m.Content != `"Welcome!"` || m.Type != sms.Marketing || m.Sender != "Acme" || m.Validity != 10*time.Minute ||
		m.DeliveryWait != 2*time.Minute || m.CappingDays != 7 || m.CappingCount != 2 || !m.Direct {
		t.Fatalf("message %+v", m)
	}
	// Given content wins over a preset.
	p, err = planOf(t, a, shop, `{"send_date":"now","content":{"en":"Hi","de":"Hallo"},"preset":"`+welcome+`","devices":["`+p1+`"]}`)
	if err != nil || p.msg.Content != `{"en":"Hi","de":"Hallo"}` || p.msg.Type != sms.Transactional || p.msg.Validity != 24*time.Hour {
		t.Fatalf("%+v %v", p.msg, err)
	}
}

func TestPlanNotificationRecipients(t *testing.T) {
	a, _ := planAPI(t)
	tests := []struct {
		name, n           string
		direct            bool
		audiences         []store.Audience
		unknown, register []string
	}{
		{"known and unknown: one recipient is still direct", `{"send_date":"now","content":"hi","devices":["` + p1 + `","` + p9 + `"]}`,
			true, []store.Audience{{Zone: "UTC", SendAt: testNow, Phones: []string{p1}}}, []string{p9}, nil},
		{"auto-registration", `{"send_date":"now","content":"hi","devices":["` + p1 + `","` + p9 + `"],"use_auto_registration":true}`,
			false, []store.Audience{{Zone: "UTC", SendAt: testNow, Phones: []string{p1, p9}}}, nil, []string{p9}},
		{"devices deduplicated across spellings", `{"send_date":"now","content":"hi","devices":["` + p1 + `","015112000001","` + p2 + `"]}`,
			false, []store.Audience{{Zone: "UTC", SendAt: testNow, Phones: []string{p1, p2}}}, nil, nil},
		{"users add their phones once", `{"send_date":"now","content":"hi","devices":["` + p1 + `"],"users":["ann","bob"]}`,
			false, []store.Audience{{Zone: "UTC", SendAt: testNow, Phones: []string{p1, p2, p3}}}, nil, nil},
		{"nobody known: no audience", `{"send_date":"now","content":"hi","devices":["` + p9 + `"]}`,
			false, nil, []string{p9}, nil},
		{"an unknown user is nobody", `{"send_date":"now","content":"hi","users":["zed"]}`,
			false, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planOf(t, a, shop, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if p.msg.Direct != tt.direct || !reflect.DeepEqual(p.audiences, tt.audiences) ||
				!reflect.DeepEqual(p.unknown, tt.unknown) || !reflect.DeepEqual(p.register, tt.register) {
				t.Fatalf("direct %v audiences %+v unknown %v register %v", p.msg.Direct, p.audiences, p.unknown, p.register)
			}
		})
	}
}

func TestPlanNotificationScheduled(t *testing.T) {
	a, _ := planAPI(t)
	at := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	// One recipient scheduled is a dispatch, not a direct send.
	p, err := planOf(t, a, shop, `{"send_date":"2026-11-24 18:00","content":"hi","devices":["`+p1+`"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if p.msg.Direct || !p.msg.SendAt.Equal(at) || !reflect.DeepEqual(p.audiences, []store.Audience{{Zone: "UTC", SendAt: at, Phones: []string{p1}}}) {
		t.Fatalf("%+v %+v", p.msg, p.audiences)
	}
	// ignore_user_timezone true (or absent) keeps one group in the
	// notification's zone.
	p, err = planOf(t, a, shop, `{"send_date":"2026-11-24 18:00","timezone":"Europe/Berlin","ignore_user_timezone":true,"content":"hi","devices":["`+p1+`","`+p2+`"]}`)
	if err != nil {
		t.Fatal(err)
	}
	at = time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC)
	if p.msg.Timezone != "Europe/Berlin" || !reflect.DeepEqual(p.audiences, []store.Audience{{Zone: "Europe/Berlin", SendAt: at, Phones: []string{p1, p2}}}) {
		t.Fatalf("%+v %+v", p.msg, p.audiences)
	}
}

func TestPlanNotificationLocalTime(t *testing.T) {
	a, _ := planAPI(t)
	// 18:00 in each recipient's zone: Berlin (device), New York (device),
	// and p3 without a device zone, whose number is German.
	p, err := planOf(t, a, shop, `{"send_date":"2026-11-24 18:00","ignore_user_timezone":false,"content":"hi","devices":["`+p1+`","`+p2+`","`+p3+`"]}`)
	if err != nil {
		t.Fatal(err)
	}
	berlin := time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC)
	ny := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	want := []store.Audience{
		{Zone: "Europe/Berlin", SendAt: berlin, Phones: []string{p1, p3}},
		{Zone: "America/New_York", SendAt: ny, Phones: []string{p2}},
	}
	if p.msg.Direct || !p.msg.SendAt.Equal(berlin) || !reflect.DeepEqual(p.audiences, want) {
		t.Fatalf("send_at %s audiences %+v", p.msg.SendAt, p.audiences)
	}
	// A zone whose local time has passed goes now: 12:30 is over in Berlin
	// (11:30 UTC) but not in New York.
	p, err = planOf(t, a, shop, `{"send_date":"2026-11-24 12:30","ignore_user_timezone":false,"content":"hi","devices":["`+p1+`","`+p2+`"]}`)
	if err != nil {
		t.Fatal(err)
	}
	want = []store.Audience{
		{Zone: "Europe/Berlin", SendAt: testNow, Phones: []string{p1}},
		{Zone: "America/New_York", SendAt: time.Date(2026, 11, 24, 17, 30, 0, 0, time.UTC), Phones: []string{p2}},
	}
	if !p.msg.SendAt.Equal(testNow) || !reflect.DeepEqual(p.audiences, want) {
		t.Fatalf("send_at %s audiences %+v", p.msg.SendAt, p.audiences)
	}
	// Sent now, ignore_user_timezone false changes nothing: one group.
	p, err = planOf(t, a, shop, `{"send_date":"now","ignore_user_timezone":false,"content":"hi","devices":["`+p1+`","`+p2+`"]}`)
	if err != nil || len(p.audiences) != 1 || p.audiences[0].Zone != "UTC" {
		t.Fatalf("%+v %v", p.audiences, err)
	}
	// Only unknown devices: no groups, and the message keeps its send date.
	p, err = planOf(t, a, shop, `{"send_date":"2026-11-24 18:00","ignore_user_timezone":false,"content":"hi","devices":["`+p9+`"]}`)
	if err != nil || len(p.audiences) != 0 || !p.msg.SendAt.Equal(time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v %+v %v", p.msg, p.audiences, err)
	}
}
