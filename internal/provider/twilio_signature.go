package provider

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio signs webhooks with HMAC-SHA1; we must compute what it sends
	"encoding/base64"
	"sort"
	"strings"
)

// TwilioSignature computes X-Twilio-Signature for a webhook to url with
// form fields: base64 HMAC-SHA1, keyed by the account's auth token, of the
// URL followed by every field's name and value in name order. The
// receipts ingress verifies it; the simulator signs its callbacks with it.
func TwilioSignature(token, url string, fields map[string][]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(url)
	for _, k := range keys {
		for _, v := range fields[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
