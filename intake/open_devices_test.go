package intake

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestOpenApplicationNeedsATokenFor (issue 13 item 9): without a token an
// open application's devices may be registered and given ordinary tags,
// but setting the consent tag (the application's own: SMSFLEET_CONSENT_TAG
// or its consent_tag, in any case, with any value), reading tags and
// unregistering are refused with 401 and write nothing. The device token
// (what client SDKs carry) suffices for each, and so does the server
// token.
func TestOpenApplicationNeedsATokenFor(t *testing.T) {
	e := newDevEnv(t, nil)
	ctx := context.Background()
	const (
		phone   = "+4915112000601" // registered, with a tag to keep
		fresh   = "+4915112000602" // never registered by a refused call
		consent = "SMSMarketingConsent"
	)
	for app, tok := range map[string]string{open: openToken, custom: customToken, shop: shopToken} {
		e.mustOK(t, "registerDevice", "", devReq(app, tok, phone, map[string]any{"device_type": 18, "tags": map[string]any{"keep": "me"}}))
	}
	cases := []struct {
		name   string
		method string
		header string
		req    map[string]any
		// want401 is the start of the refusal's status_message; "" for a
		// call that must be accepted.
		want401 string
	}{
		{name: "setTags consent without token", method: "setTags", req: devReq(open, "", phone, map[string]any{"tags": map[string]any{consent: true}}), want401: "tags.SMSMarketingConsent: setting the consent tag needs"},
		{name: "setTags consent in another case", method: "setTags", req: devReq(open, "", phone, map[string]any{"tags": map[string]any{"smsmarketingconsent": "true"}}), want401: "tags.smsmarketingconsent: "},
		{name: "setTags consent withdrawn without token", method: "setTags", req: devReq(open, "", phone, map[string]any{"tags": map[string]any{consent: nil}}), want401: "tags.SMSMarketingConsent: "},
		{name: "setTags consent beside an ordinary tag", method: "setTags", req: devReq(open, "", phone, map[string]any{"tags": map[string]any{"City": "Berlin", consent: true}}), want401: "tags.SMSMarketingConsent: "},
		{name: "setTags the application's own consent tag", method: "setTags", req: devReq(custom, "", phone, map[string]any{"tags": map[string]any{customTag: true}}), want401: "tags.MarketingOK: "},
		{name: "registerDevice with consent without token", method: "registerDevice", req: devReq(open, "", fresh, map[string]any{"device_type": 18, "tags": map[string]any{consent: true}}), want401: "tags.SMSMarketingConsent: "},
		{name: "registerDevice again with consent without token", method: "registerDevice", req: devReq(open, "", phone, map[string]any{"device_type": 18, "tags": map[string]any{consent: true}}), want401: "tags.SMSMarketingConsent: "},
		{name: "getTags without token", method: "getTags", req: devReq(open, "", phone, nil), want401: "missing auth token: getTags needs"},
		{name: "getTags of an unknown phone without token", method: "getTags", req: devReq(open, "", fresh, nil), want401: "missing auth token: getTags needs"},
		{name: "getTags with a bad hwid without token", method: "getTags", req: devReq(open, "", "nonsense", nil), want401: "missing auth token: getTags needs"},
		{name: "unregisterDevice without token", method: "unregisterDevice", req: devReq(open, "", phone, nil), want401: "missing auth token: unregisterDevice needs"},
		{name: "unregisterDevice of an unknown phone without token", method: "unregisterDevice", req: devReq(open, "", fresh, nil), want401: "missing auth token: unregisterDevice needs"},

		{name: "registerDevice with ordinary tags without token", method: "registerDevice", req: devReq(open, "", phone, map[string]any{"device_type": 18, "tags": map[string]any{"City": "London"}})},
		{name: "setTags ordinary without token", method: "setTags", req: devReq(open, "", phone, map[string]any{"tags": map[string]any{"City": "Paris"}})},
		{name: "setTags another application's consent name is ordinary", method: "setTags", req: devReq(custom, "", phone, map[string]any{"tags": map[string]any{consent: true}})},
		{name: "setTags consent with the server token", method: "setTags", req: devReq(open, openToken, phone, map[string]any{"tags": map[string]any{consent: true}})},
		{name: "getTags with the server token", method: "getTags", header: "Token " + openToken, req: devReq(open, "", phone, nil)},
		{name: "setTags consent with the device token", method: "setTags", req: devReq(shop, shopDev, phone, map[string]any{"tags": map[string]any{consent: true}})},
		{name: "registerDevice consent with the device token", method: "registerDevice", header: "Token " + shopDev, req: devReq(shop, "", phone, map[string]any{"device_type": 18, "tags": map[string]any{consent: false}})},
		{name: "getTags with the device token", method: "getTags", header: "Token " + shopDev, req: devReq(shop, "", phone, nil)},
		{name: "unregisterDevice with the device token", method: "unregisterDevice", req: devReq(shop, shopDev, phone, nil)},
		{name: "unregisterDevice with the server token", method: "unregisterDevice", req: devReq(open, openToken, phone, nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.keyspace(t)
			got := e.call(t, tc.method, tc.header, tc.req)
			if tc.want401 == "" {
				if got.HTTP != 200 || got.Code != 200 {
					t.Fatalf("HTTP %d status %d %q, want 200", got.HTTP, got.Code, got.Message)
				}
				return
			}
			if got.HTTP != 401 || got.Code != 401 || !strings.HasPrefix(got.Message, tc.want401) {
				t.Fatalf("HTTP %d status %d %q, want 401 %q…", got.HTTP, got.Code, got.Message, tc.want401)
			}
			if got.Resp != nil && string(got.Resp) != "null" {
				t.Fatalf("a refused call answered %s", got.Resp)
			}
			sameKeyspace(t, before, e.keyspace(t))
		})
	}
	// The tag setTags with a token wrote is what the refused calls left.
	d, err := e.api.Store.GetDevice(ctx, custom, phone)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Tags[customTag]; ok || string(d.Tags["keep"]) != `"me"` {
		t.Fatalf("custom's device tags %v", d.Tags)
	}
	if _, err := e.api.Store.GetDevice(ctx, open, fresh); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused registration of %s: %v, want not registered", fresh, err)
	}
}
