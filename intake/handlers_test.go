package intake

import (
	"context"
	"encoding/json"
	"testing"
)

// TestHandlerArguments calls the method handlers' own argument checks
// directly, without HTTP: each fails before touching the store.
func TestHandlerArguments(t *testing.T) {
	a := newAPIWith(nil) // no store: a lookup would panic
	ctx := context.Background()
	tests := []struct {
		name    string
		handler func(context.Context, string, json.RawMessage) (any, error)
		raw     string
		err     string
	}{
		{"createMessage without notifications", a.createMessage, `{}`, "notifications: required (a list of notifications)"},
		{"createMessage null notifications", a.createMessage, `{"notifications":null}`, "notifications: required (a list of notifications)"},
		{"createMessage notifications not a list", a.createMessage, `{"notifications":{}}`, "notifications: must be an array, got object"},
		{"createMessage names the notification", a.createMessage, `{"notifications":[{"send_date":5}]}`, "notifications[0].send_date: must be a string, got number"},
		{"deleteMessage without code", a.deleteMessage, `{}`, "message: required (a message code)"},
		{"getMsgStats without code", a.getMsgStats, `{"message":""}`, "message: required (a message code)"},
		{"getResults without request id", a.getResults, `{}`, "request_id: required (from getMsgStats)"},
		{"createPreset without name", a.createPreset, `{"content":"x"}`, "name: required, at most 200 characters"},
		{"createPreset blank name", a.createPreset, `{"name":"   ","content":"x"}`, "name: required, at most 200 characters"},
		{"createPreset bad content", a.createPreset, `{"name":"n","content":""}`, "content: must not be empty"},
		{"getPreset without code", a.getPreset, `{}`, "preset_code: required"},
		{"deletePreset without code", a.deletePreset, `{"preset_code":""}`, "preset_code: required"},
		{"registerDevice without type", a.registerDevice, `{"hwid":"+4915112000001"}`, "device_type: required (18 for SMS)"},
		{"unregisterDevice without hwid", a.unregisterDevice, `{"auth":"` + shopDev + `"}`, "hwid: required (the phone number)"},
		{"setTags without tags", a.setTags, `{"hwid":"+4915112000001"}`, "tags: required (an object of tag name to value)"},
		{"setTags bad tag", a.setTags, `{"hwid":"+4915112000001","tags":{"x":{}}}`, "tags.x: must be a string, number, boolean, list of strings or null"},
		{"getTags bad hwid", a.getTags, `{"auth":"` + shopDev + `","hwid":"hello"}`, `hwid: not a valid phone number: "hello": the phone number supplied is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.handler(ctx, shop, json.RawMessage(tt.raw))
			wantArg(t, err, tt.err)
		})
	}
}

// TestCreateMessageEmptyList: an empty list is 200 with no messages, as
// Pushwoosh answers it (createMessage returns "Messages": the codes of the
// notifications sent, https://docs.pushwoosh.com/developer/api-reference/messages-api/);
// nothing is looked up or written (the API has no store to write to).
func TestCreateMessageEmptyList(t *testing.T) {
	a := newAPIWith(nil)
	got, err := a.createMessage(context.Background(), shop, json.RawMessage(`{"notifications":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if string(b) != `{"Messages":[]}` {
		t.Fatalf("createMessage with no notifications = %s, want {\"Messages\":[]}", b)
	}
}

// TestCreateMessageValidatesAllBeforeWriting: one bad notification leaves
// no trace of the good ones before it.
func TestCreateMessageValidatesAllBeforeWriting(t *testing.T) {
	a, _ := planAPI(t)
	ctx := context.Background()
	_, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[
		{"send_date":"now","content":"hi","devices":["`+p1+`","`+p2+`"]},
		{"send_date":"now","content":"hi","devices":["`+p1+`"],"validity":0}]}`))
	wantArg(t, err, "notifications[1].validity: must be from 1 to 604800 seconds (7 days), got 0")
	msgs, _, err := a.Store.ListMessages(ctx, shop, 10, 0)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("%d messages written (%v), want none", len(msgs), err)
	}
	// Auto-registration is part of the write, so it did not happen either.
	known, err := a.Store.KnownPhones(ctx, shop, []string{p9})
	if err != nil || known[0] {
		t.Fatalf("known %v %v", known, err)
	}
	_, err = a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[
		{"send_date":"now","content":"hi","devices":["`+p9+`"],"use_auto_registration":true},
		{"send_date":"now","content":""}]}`))
	wantArg(t, err, "notifications[1].devices: devices, users or conditions required: a notification without them goes to every SMS device of the application (Pushwoosh's \"all subscribers\"), which needs allow_broadcast: true for it in the configuration file")
	if known, err := a.Store.KnownPhones(ctx, shop, []string{p9}); err != nil || known[0] {
		t.Fatalf("auto-registered before validation finished: %v %v", known, err)
	}
}
