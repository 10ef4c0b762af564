package provider_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// fuzzSecret signs the fuzzed webhooks; fuzzKinds are the kinds that take
// webhooks, each as its source.
const fuzzSecret = "fuzz-secret-of-the-provider"

var fuzzKinds = []provider.Source{
	{Name: "tw", Kind: provider.KindTwilio, Secret: fuzzSecret, PublicURL: "https://sms.example.com"},
	{Name: "gw", Kind: provider.KindJSON, Secret: fuzzSecret},
	{Name: "sim", Kind: provider.KindSimulator, Secret: fuzzSecret},
}

// fuzzRequest is body posted to path under src's scheme: mode 0 signed
// with the right secret, 1 with another, 2 with sig as the signature
// header(s) verbatim.
func fuzzRequest(src provider.Source, path string, body []byte, mode uint8, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	key := fuzzSecret
	if mode%3 == 1 {
		key = "another-secret"
	}
	switch {
	case mode%3 == 2:
		r.Header.Set("X-Twilio-Signature", sig)
		r.Header.Set(signature.HeaderID, "msg_1")
		r.Header.Set(signature.HeaderTimestamp, "1")
		r.Header.Set(signature.HeaderSignature, sig)
	case src.Kind == provider.KindTwilio:
		// Signed over the form as the server will parse it; an unparsable
		// body is refused before the signature is looked at.
		f, _ := url.ParseQuery(string(body))
		r.Header.Set("X-Twilio-Signature", provider.TwilioSignature(key, src.PublicURL+path, f))
	default:
		_ = signature.SetStandard(r.Header, key, "msg_1", at, body)
	}
	return r
}

func fuzzSeeds(f *testing.F, bodies ...string) {
	for k := range fuzzKinds {
		for _, b := range bodies {
			for mode := range uint8(3) {
				f.Add(uint8(k), mode, []byte(b), "v1,AAAA")
			}
		}
	}
}

// FuzzParseReceipt: for every kind, whatever the body and signature, the
// parser never panics, never accepts a webhook not signed with the
// provider's secret, and what it accepts is a whole receipt (a reference
// and a status) or an error with an HTTP status, never garbage.
func FuzzParseReceipt(f *testing.F) {
	fuzzSeeds(f,
		`{"ref":"SM1","status":"DELIVRD"}`, `{"ref":"","status":""}`, `{"ref":1}`, `null`, `{`,
		"MessageSid=SM1&MessageStatus=delivered&ErrorCode=30003", "MessageSid=%zz", "MessageSid=SM1&MessageStatus=sent",
		"", "\x00\xff")
	f.Fuzz(func(t *testing.T, k, mode uint8, body []byte, sig string) {
		src := fuzzKinds[int(k)%len(fuzzKinds)]
		r := fuzzRequest(src, "/webhooks/dlr/"+src.Name, body, mode, sig)
		rec, rp, err := src.Webhooks().ParseReceipt(src, r, body, at)
		if err != nil {
			if status(err) < 400 || status(err) > 499 {
				t.Fatalf("%s: error without a 4xx status: %v", src.Kind, err)
			}
			return
		}
		if mode%3 != 0 {
			t.Fatalf("%s: accepted a receipt signed wrongly (mode %d, sig %q): %+v", src.Kind, mode%3, sig, rec)
		}
		if rec.Ref == "" || rec.Status == "" || rec.Provider != src.Name || !rec.At.Equal(at) {
			t.Fatalf("%s: accepted an incomplete receipt %+v", src.Kind, rec)
		}
		if src.Kind != provider.KindTwilio && rp.ID == "" || rec.Final() && rp.ID == "" {
			t.Fatalf("%s: accepted %+v without a replay id", src.Kind, rec)
		}
		if rec.Final() != (rec.Status == sms.Delivered || rec.Status == sms.Undelivered) {
			t.Fatal("Final disagrees with the status")
		}
	})
}

// FuzzParseReply: likewise for inbound replies: a whole reply (a sender)
// and a replay id, or a 4xx error.
func FuzzParseReply(f *testing.F) {
	fuzzSeeds(f,
		`{"from":"+4915112000001","to":"SHOP","text":"STOP"}`, `{"from":""}`, `{"from":5}`, `[]`,
		"MessageSid=SM1&From=%2B4915112000001&Body=START", "SmsSid=SM2&From=x", "From=x", "Body=%", "", "\x00")
	f.Fuzz(func(t *testing.T, k, mode uint8, body []byte, sig string) {
		src := fuzzKinds[int(k)%len(fuzzKinds)]
		r := fuzzRequest(src, "/webhooks/inbound/"+src.Name, body, mode, sig)
		rep, rp, err := src.Webhooks().ParseReply(src, r, body, at)
		if err != nil {
			if status(err) < 400 || status(err) > 499 {
				t.Fatalf("%s: error without a 4xx status: %v", src.Kind, err)
			}
			return
		}
		if mode%3 != 0 {
			t.Fatalf("%s: accepted a reply signed wrongly (mode %d, sig %q): %+v", src.Kind, mode%3, sig, rep)
		}
		if rep.From == "" || rp.ID == "" || rp.TTL <= 0 || len(rp.ID) > signature.MaxIDLength+8 {
			t.Fatalf("%s: accepted reply %+v with replay %+v", src.Kind, rep, rp)
		}
	})
}
