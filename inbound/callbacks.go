package inbound

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Callbacks forwards replies to applications' inbound callback URLs
// through the status callbacks' own machinery: a task on the callbacks
// queue (tasks.Callback), handled by outcomes.Callbacks, which signs the
// POST the Standard Webhooks way with the application's callback secret
// (webhook-id is the event_id below) and retries with backoff until the
// task's attempts run out. The task id is the reply's, so forwarding the
// same reply again while its task exists (and for an hour after it
// completed) enqueues nothing; the stored reply's "cb" step covers the
// rest of its retention.
type Callbacks struct {
	Queue *asynq.Client
	// MaxAttempts and Timeout bound each task (SMSFLEET_CALLBACK_*).
	MaxAttempts int
	Timeout     time.Duration
}

// Event is the JSON body POSTed to an inbound callback URL.
type Event struct {
	// EventID is "inbound:<application>:<reply id>": the same on every
	// retry, so a receiver deduplicates on it (it is the webhook-id).
	EventID     string `json:"event_id"`
	Type        string `json:"type"` // always "inbound"
	ID          string `json:"id"`
	Application string `json:"application"`
	// From is the phone's number; for an application with hash_numbers
	// it is empty and FromHash carries outcomes.HashPhone of it (the
	// phone_hash of its outcome events), so no number leaves for it.
	From       string    `json:"from,omitempty"`
	FromHash   string    `json:"from_hash,omitempty"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	Keyword    string    `json:"keyword,omitempty"` // stop, start or help: also applied by the fleet
	Provider   string    `json:"provider"`
	ReceivedAt time.Time `json:"received_at"`
}

// callbackTask is the payload outcomes.Callbacks reads (its callbackTask:
// url, app, body); TestForwardedReplyIsSignedLikeAStatusCallback runs the
// real handler on it, so a change to either side fails there.
type callbackTask struct {
	URL  string          `json:"url"`
	App  string          `json:"app"`
	Body json.RawMessage `json:"body"`
}

// EventOf is the callback body of app's stored reply; hashKey is the
// application's number hash key (nil: the event carries the number).
func EventOf(app string, m store.InboundMessage, hashKey []byte) Event {
	from, fromHash := PhoneOf(m.From, hashKey)
	return Event{EventID: "inbound:" + app + ":" + m.ID, Type: "inbound", ID: m.ID, Application: app, From: from, FromHash: fromHash,
		To: m.To, Text: m.Text, Keyword: m.Keyword, Provider: m.Provider, ReceivedAt: m.At.UTC()}
}

// PhoneOf is how a reply's phone leaves for an application: its number,
// or, with a hash key (hash_numbers), only its keyed hash, the same
// HMAC as its outcome events' phone_hash.
func PhoneOf(phone string, hashKey []byte) (number, hash string) {
	if hashKey == nil {
		return phone, ""
	}
	return "", outcomes.HashPhone(hashKey, phone)
}

// Forward enqueues the POST of app's reply m to url, its number hashed
// with hashKey when set.
func (c *Callbacks) Forward(_ context.Context, app, url string, m store.InboundMessage, hashKey []byte) error {
	ev := EventOf(app, m, hashKey)
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("callback body: %w", err)
	}
	payload, err := json.Marshal(callbackTask{URL: url, App: app, Body: body})
	if err != nil {
		return fmt.Errorf("callback task: %w", err)
	}
	return tasks.Enqueue(c.Queue, tasks.Callback(ev.EventID, payload, max(c.MaxAttempts-1, 0), c.Timeout))
}
