package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestBadInputWritesNothing: each refused value is a 210 naming its field,
// and the store is left as it was.
func TestBadInputWritesNothing(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	const phone = "+4915112000042"
	// A registered device whose tags must survive refused setTags calls.
	if _, err := a.registerDevice(ctx, shop, json.RawMessage(`{"hwid":"`+phone+`","device_type":18,"tags":{"keep":"me"}}`)); err != nil {
		t.Fatal(err)
	}
	const fresh = "+4915112000043"
	tests := []struct {
		name    string
		handler func(context.Context, string, json.RawMessage) (any, error)
		raw     string
		err     string
	}{
		{"timezone Local", a.registerDevice, `{"hwid":"` + fresh + `","device_type":18,"timezone":"Local"}`, zoneWant + `: unknown time zone "Local"`},
		{"long language", a.registerDevice, `{"hwid":"` + fresh + `","device_type":18,"language":"` + strings.Repeat("x", 1000) + `"}`, "language: must be a BCP 47 language code of at most 35 characters, got 1000"},
		{"bad language", a.registerDevice, `{"hwid":"` + fresh + `","device_type":18,"language":"english please"}`, `language: must be a BCP 47 language code like "en" or "de-AT", got "english please"`},
		{"5000 tags", a.registerDevice, `{"hwid":"` + fresh + `","device_type":18,"tags":` + manyTags(5000) + `}`, "tags: at most 100 tags per request, got 5000"},
		{"NUL in a tag name", a.registerDevice, `{"hwid":"` + fresh + `","device_type":18,"tags":{"a\u0000":"x"}}`, `tags: tag name "a\x00" must be valid UTF-8 without control characters`},
		{"setTags 101 tags", a.setTags, `{"hwid":"` + phone + `","tags":` + manyTags(101) + `}`, "tags: at most 100 tags per request, got 101"},
		{"setTags big value", a.setTags, `{"hwid":"` + phone + `","tags":{"keep":"` + strings.Repeat("v", 500_000) + `"}}`, "tags.keep: value is 500002 bytes of JSON, more than the maximum of 4096"},
		{"setTags NUL in a name", a.setTags, `{"hwid":"` + phone + `","tags":{"k\u0000":"x"}}`, `tags: tag name "k\x00" must be valid UTF-8 without control characters`},
		{"validity overflows up", a.createMessage, `{"notifications":[{"send_date":"now","content":"hi","devices":["` + phone + `"],"validity":18446744075}]}`, "notifications[0].validity: must be from 1 to 604800 seconds (7 days), got 18446744075"},
		{"validity overflows down", a.createMessage, `{"notifications":[{"send_date":"now","content":"hi","devices":["` + phone + `"],"validity":-18446744072}]}`, "notifications[0].validity: must be from 1 to 604800 seconds (7 days), got -18446744072"},
		{"NUL in content", a.createMessage, `{"notifications":[{"send_date":"now","content":"hi\u0000","devices":["` + phone + `"]}]}`, "notifications[0].content: must not contain NUL characters"},
		{"invalid UTF-8 in content", a.createMessage, "{\"notifications\":[{\"send_date\":\"now\",\"content\":{\"en\":\"caf\xe9\"},\"devices\":[\"" + phone + "\"]}]}", "notifications[0].content: is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.handler(ctx, shop, json.RawMessage(tt.raw))
			wantArg(t, err, tt.err)
			if _, err := a.Store.GetDevice(ctx, shop, fresh); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("device %s: %v, want not registered", fresh, err)
			}
			d, err := a.Store.GetDevice(ctx, shop, phone)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Tags) != 1 || string(d.Tags["keep"]) != `"me"` {
				t.Fatalf("tags changed: %d tags, keep=%s", len(d.Tags), d.Tags["keep"])
			}
			msgs, _, err := a.Store.ListMessages(ctx, shop, 10, 0)
			if err != nil || len(msgs) != 0 {
				t.Fatalf("%d messages written (%v), want none", len(msgs), err)
			}
		})
	}
}

// TestRegisterDeviceZoneForms: each time zone form a client sends is
// stored as the form the worker reads (sms.Zone): Pushwoosh's offset in
// seconds, as yyoshiki41/go-pushwoosh sends it, becomes "+01:00".
// https://docs.pushwoosh.com/developer/api-reference/device-api/ ("timezone":
// integer, "Timezone offset in seconds for the device").
func TestRegisterDeviceZoneForms(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	tests := []struct{ tz, stored string }{
		{`3600`, "+01:00"},
		{`-16200`, "-04:30"},
		{`"UTC+05:30"`, "+05:30"},
		{`"Europe/Lisbon"`, "Europe/Lisbon"},
		{`null`, ""},
	}
	for i, tt := range tests {
		phone := fmt.Sprintf("+49151120001%02d", i)
		if _, err := a.registerDevice(ctx, shop, json.RawMessage(`{"hwid":"`+phone+`","device_type":18,"timezone":`+tt.tz+`}`)); err != nil {
			t.Fatalf("timezone %s: %v", tt.tz, err)
		}
		d, err := a.Store.GetDevice(ctx, shop, phone)
		if err != nil {
			t.Fatal(err)
		}
		if d.Timezone != tt.stored {
			t.Fatalf("timezone %s stored as %q, want %q", tt.tz, d.Timezone, tt.stored)
		}
	}
}

// TestGetTagsByUserID: getTags takes userId instead of hwid, as Pushwoosh
// documents (https://docs.pushwoosh.com/platform-docs/api-reference/tags,
// getTags: "can be used instead of hwid to retrieve tags for a specific
// user"); a user with two phones gets every tag, the first phone's value
// where they differ; an unknown user is a 210 naming userId.
func TestGetTagsByUserID(t *testing.T) {
	a := newTestAPI(t)
	ctx := context.Background()
	for _, reg := range []string{
		`{"auth":"` + shopToken + `","hwid":"+4915112000201","device_type":18,"userId":"alex","tags":{"city":"London","vip":true}}`,
		`{"auth":"` + shopToken + `","hwid":"+4915112000202","device_type":18,"userId":"alex","tags":{"city":"Paris","plan":"gold"}}`,
	} {
		if _, err := a.registerDevice(ctx, shop, json.RawMessage(reg)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.getTags(ctx, shop, json.RawMessage(`{"auth":"`+shopToken+`","userId":"alex"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if want := `{"result":{"city":"London","plan":"gold","vip":true}}`; string(b) != want {
		t.Fatalf("getTags by userId = %s, want %s", b, want)
	}
	_, err = a.getTags(ctx, shop, json.RawMessage(`{"auth":"`+shopToken+`","userId":"nobody"}`))
	wantArg(t, err, "userId: no device is registered for this user")
	_, err = a.getTags(ctx, shop, json.RawMessage(`{"auth":"`+shopToken+`"}`))
	wantArg(t, err, "hwid: required (the phone number), or userId instead")
}
