package sms

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// SMSID is the deterministic identity of the SMS that message code sends to
// phone (docs/decisions.md#3). The Asynq task id and the provider
// idempotency key are this value, so a retried request or a re-run fan-out
// cannot enqueue or send the same SMS twice.
func SMSID(code, phone string) string {
	h := sha256.Sum256([]byte(code + "\x00" + phone))
	return code + "." + hex.EncodeToString(h[:8])
}

// MessageCodeOf returns the message code an SMS id belongs to.
func MessageCodeOf(id string) string {
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		return id[:i]
	}
	return ""
}

// NewMessageCode returns a fresh random code shaped like Pushwoosh's
// (XXXX-XXXXXXXX-XXXXXXXX, upper-case hex).
func NewMessageCode() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("message code: %w", err)
	}
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[:4] + "-" + h[4:12] + "-" + h[12:20], nil
}

// NewRequestID returns a random id for a getMsgStats request.
func NewRequestID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("request id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
