package sms

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// IDScheme names how the SMS ids of one message are derived. A message
// records its scheme when it is created and every process derives its ids
// with that scheme, so an upgrade that changes how ids are made never gives
// a message accepted before it new ids (new task ids: sent twice).
type IDScheme string

// LegacyIDs is the scheme of messages created before keyed ids (a message
// without a recorded scheme): SHA-256(code, phone), which anyone can
// compute, so a masked phone next to its id is recoverable by brute force.
// Only read for such messages, never used for new ones.
const LegacyIDs IDScheme = ""

// keyedPrefix starts a keyed scheme: "h1:" and the key's fingerprint.
const keyedPrefix = "h1:"

// MinIDKeyLen is the shortest id key accepted, in bytes: a generated key
// has 256 random bits, and a pinned one should not be easier to guess.
const MinIDKeyLen = 32

// ErrIDScheme is returned (wrapped) when a message's ids were derived with
// another key than this process holds: deriving them again would give new
// ids, and so a second send of every SMS.
var ErrIDScheme = errors.New("SMS ids of this message were derived with another id key")

// IDs derives SMS ids: the deterministic identity of the SMS that a message
// sends to a phone (docs/decisions.md#3, #20). The Asynq task id and the
// provider idempotency key are this id, so every process of a fleet must
// hold the same key: the key lives in Redis (store.LoadIDs), and each
// message records the key's fingerprint (its IDScheme), so a process with
// another key refuses to derive that message's ids instead of making
// different ones. The zero IDs holds no key and derives legacy ids only.
type IDs struct {
	key    []byte
	scheme IDScheme
}

// NewIDs returns the derivation keyed with key (at least MinIDKeyLen bytes).
func NewIDs(key []byte) (IDs, error) {
	if len(key) < MinIDKeyLen {
		return IDs{}, fmt.Errorf("SMS id key: %d bytes, want at least %d", len(key), MinIDKeyLen)
	}
	k := append([]byte(nil), key...)
	fp := mac(k, "smsfleet sms id key fingerprint")
	return IDs{key: k, scheme: IDScheme(keyedPrefix + hex.EncodeToString(fp[:8]))}, nil
}

// NewIDKey returns a fresh random id key: 32 random bytes as 64 hex
// digits (printable, so an operator can copy it into SMSFLEET_ID_SECRET).
func NewIDKey() (string, error) {
	var b [MinIDKeyLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("SMS id key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Scheme is the scheme new messages record: "h1:" and a fingerprint of the
// key (an HMAC of a constant, which says nothing about the key). It is ""
// for the zero IDs.
func (k IDs) Scheme() IDScheme { return k.scheme }

// Keyed reports whether k holds a key.
func (k IDs) Keyed() bool { return k.scheme != "" }

// ID returns the id of the SMS that message code, whose ids follow scheme,
// sends to phone: code + "." + 16 hex digits, of HMAC-SHA256(key, code \0
// phone) for a keyed scheme, of SHA-256(code \0 phone) for LegacyIDs. A
// keyed scheme other than k's is ErrIDScheme.
func (k IDs) ID(code, phone string, scheme IDScheme) (string, error) {
	switch {
	case scheme == LegacyIDs:
		return legacyID(code, phone), nil
	case k.scheme == "":
		return "", fmt.Errorf("message %s: %w (scheme %s; this process holds no id key)", code, ErrIDScheme, scheme)
	case scheme != k.scheme:
		return "", fmt.Errorf("message %s: %w (scheme %s, this process holds %s)", code, ErrIDScheme, scheme, k.scheme)
	}
	h := mac(k.key, code+"\x00"+phone)
	return code + "." + hex.EncodeToString(h[:8]), nil
}

// legacyID is the id of the SMS of a LegacyIDs message.
func legacyID(code, phone string) string {
	h := sha256.Sum256([]byte(code + "\x00" + phone))
	return code + "." + hex.EncodeToString(h[:8])
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
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
