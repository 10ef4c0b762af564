// Package signature is the one HMAC-SHA256 body signature smsfleet both
// checks (the generic JSON provider's and the simulator's webhooks) and
// makes (status callbacks): "sha256=<hex HMAC-SHA256 of the body>".
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Sign returns body's signature under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Valid reports whether got is body's signature under secret, in
// constant time. An empty secret validates nothing: an unconfigured
// secret must not make every request look signed.
func Valid(secret string, body []byte, got string) bool {
	return secret != "" && hmac.Equal([]byte(Sign(secret, body)), []byte(got))
}
