package inbound

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Enqueuer enqueues a stored message's send tasks (dispatcher.Enqueuer).
type Enqueuer interface {
	Enqueue(ctx context.Context, m store.Message) error
}

// Answers writes a keyword's answer (help text, STOP or START
// confirmation) as an SMS like any other: a transactional message of one
// recipient written by store.CreateMessage and enqueued, the intake's path
// (intake/create.go write), so it is counted, has its own outcome and is
// crash-safe (a message not yet enqueued sits in the outbox, which the
// sweeper enqueues). Its transactionId is the reply's id and keyword: a
// redelivered reply gets the message written the first time, not a second
// one (for the transactionId's 24 hours; the stored reply's "ar" step
// covers the rest of its retention).
type Answers struct {
	Store    *store.Store
	Enqueuer Enqueuer
	// Policy gives an application's validity for transactional SMS.
	Policy func(app string) config.Resolved
	// DeliveryWait and ChunkSize are the intake's defaults
	// (SMSFLEET_DELIVERY_WAIT, SMSFLEET_DISPATCH_CHUNK).
	DeliveryWait time.Duration
	ChunkSize    int
	Now          func() time.Time
	Log          *zap.Logger
}

// Send writes and enqueues app's answer text to m's phone and returns its
// message code.
func (a *Answers) Send(ctx context.Context, app string, m Message, kw, text string) (string, error) {
	content, err := json.Marshal(text)
	if err != nil {
		return "", err
	}
	code, err := sms.NewMessageCode()
	if err != nil {
		return "", err
	}
	now := a.Now().UTC()
	msg := store.Message{
		App: app, Code: code, Type: sms.Transactional, Content: string(content), SendAt: now, Timezone: "UTC",
		TransactionID: "inbound:" + m.ID + ":" + kw, Validity: a.Policy(app).Validity.For(string(sms.Transactional)),
		DeliveryWait: a.DeliveryWait, ChunkSize: max(a.ChunkSize, 1), Direct: true, KeywordAnswer: true,
	}
	code, created, err := a.Store.CreateMessage(ctx, &msg, []store.Audience{{Zone: "UTC", SendAt: now, Phones: []string{m.From}}})
	if err != nil {
		// Maybe written (not on a replica yet, or the answer lost): the
		// retry this error causes finds it by its transactionId.
		return "", fmt.Errorf("write: %w", err)
	}
	if !created {
		if !msg.ReplayPending {
			return code, nil // written and enqueued the first time
		}
		stored, err := a.Store.GetMessage(ctx, app, code)
		if err != nil {
			return "", fmt.Errorf("read the answer written before: %w", err)
		}
		msg = stored
	}
	if err := a.Enqueuer.Enqueue(ctx, msg); err != nil {
		// Stored and in the outbox: the sweeper enqueues it, as for the
		// intake's messages.
		a.Log.Warn("answer to an inbound keyword not enqueued; the outbox will", zap.String("message", code), zap.Error(err))
	}
	return code, nil
}
