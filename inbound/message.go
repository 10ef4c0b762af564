package inbound

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// Message is one reply from a phone, normalised from any provider kind:
// what travels through Kafka (topic SMSFLEET_INBOUND_TOPIC, keyed by the
// phone so one phone's replies stay in order) and what the consumer
// applies.
type Message struct {
	// ID names the reply for good: derived from the provider's own id when
	// it sends one (IDOf), so a replayed webhook or a redelivered record is
	// the same reply, applied once.
	ID       string    `json:"id"`
	Provider string    `json:"provider"`
	From     string    `json:"from"` // E.164
	To       string    `json:"to"`   // as the provider gave it (bounded, valid UTF-8)
	Text     string    `json:"text"`
	At       time.Time `json:"received_at"`
}

// Bounds of what a reply may carry. A concatenated SMS of 10 parts is at
// most 1,530 GSM-7 characters; a longer text is no SMS. A sender id or
// number is at most 16 characters; to leaves room for a provider's
// formatting (spaces, a "tel:" prefix).
const (
	MaxText = 1600
	MaxTo   = 32
)

// IDOf is the id of provider prov's reply whose webhook id is replayID
// (provider.Replay.ID): a hash of both, so it is the same on every replay
// of that webhook. Without one (a legacy-signed webhook, an SMPP MO) it is
// random: taken once, it is the same on every Kafka redelivery.
func IDOf(prov, replayID string) (string, error) {
	if replayID == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("inbound id: %w", err)
		}
		return hex.EncodeToString(b), nil
	}
	sum := sha256.Sum256([]byte(prov + "\x00" + replayID))
	return hex.EncodeToString(sum[:12]), nil
}

// FieldError is a reply refused for one of its fields: the webhook
// answers it 400 naming the field, and nothing is stored.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Normalize checks a provider's reply and returns the Message it is:
// from a phone number (read in region when national), to a bounded
// sender, a text of valid UTF-8 within MaxText.
func Normalize(prov string, r provider.Reply, region string, at time.Time, id string) (Message, error) {
	from, err := sms.NormalizePhone(r.From, region)
	if err != nil {
		return Message{}, &FieldError{"from", err.Error()}
	}
	switch {
	case r.To == "":
		return Message{}, &FieldError{"to", "required (the number or sender id the reply was sent to)"}
	case len(r.To) > MaxTo:
		return Message{}, &FieldError{"to", fmt.Sprintf("longer than %d bytes", MaxTo)}
	case !utf8.ValidString(r.To):
		return Message{}, &FieldError{"to", "not valid UTF-8"}
	case !utf8.ValidString(r.Text):
		return Message{}, &FieldError{"text", "not valid UTF-8 (a provider must decode GSM-7 and UCS-2 before posting)"}
	case utf8.RuneCountInString(r.Text) > MaxText:
		return Message{}, &FieldError{"text", fmt.Sprintf("longer than %d characters", MaxText)}
	case strings.ContainsRune(r.Text, 0):
		return Message{}, &FieldError{"text", "contains a NUL character"}
	case strings.ContainsRune(r.Text, utf8.RuneError):
		// JSON decoding turns invalid bytes into U+FFFD: either way the
		// provider sent text it did not decode (as intake/compose.go
		// refuses it in a notification).
		return Message{}, &FieldError{"text", "contains U+FFFD, the mark of a failed decoding (a provider must decode GSM-7 and UCS-2 before posting)"}
	}
	return Message{ID: id, Provider: prov, From: from, To: r.To, Text: r.Text, At: at.UTC()}, nil
}

func encode(m Message) ([]byte, error) { return json.Marshal(m) }

// decode reads a record; a record that is not a Message is refused
// (dead-lettered), never half-applied.
func decode(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return Message{}, fmt.Errorf("inbound record: %w", err)
	}
	if m.ID == "" || m.Provider == "" || m.From == "" || m.At.IsZero() {
		return Message{}, errors.New("inbound record: id, provider, from and received_at are required")
	}
	return m, nil
}

// Topic is SMSFLEET_INBOUND_TOPIC's default, and TopicDLQ its dead
// letters (a topic's dead letters are always "<topic>.dlq"): dev and the
// tests create them on their embedded Kafka.
const (
	Topic    = "smsfleet.inbound"
	TopicDLQ = Topic + ".dlq"
)
