package outcomes

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Hashed numbers (issue 17, docs/privacy.md). An application with
// hash_numbers gets outcome events (Kafka and status callbacks) without
// the phone number: phone_hash carries HashPhone(key, number) instead,
// keyed with its number_hash_key. The application computes the same of
// its own numbers to match an event to a person:
//
//	hex(HMAC-SHA256(key = the number_hash_key's bytes, message = the E.164 number, e.g. "+4915112345678"))
//
// (lower-case hex, 64 characters). Without the key the hashes cannot be
// reversed by trying every number of a numbering plan.

// HashPhone is the lower-case hex HMAC-SHA256 of the E.164 phone keyed
// with key.
func HashPhone(key []byte, phone string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(phone))
	return hex.EncodeToString(m.Sum(nil))
}

// protect replaces e's phone number by its hash when the application's
// key is set.
func (e *Event) protect(key []byte) {
	if key == nil || e.Phone == "" {
		return
	}
	e.PhoneHash, e.Phone = HashPhone(key, e.Phone), ""
}
