package inbound

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Applier applies replies: the last step of the inbound pipeline, run by
// the Kafka consumer (or by the webhook itself without Kafka). For a reply
// to a sender some applications send from, for each of them:
//
//  1. a STOP or START word changes the application's opt-outs for that
//     sender (store.ApplyReply: a second application of the same keyword
//     changes nothing), for every application before anything else;
//  2. the reply is stored (store.SaveInbound), once per id;
//  3. a keyword with an answer configured (help text, STOP or START
//     confirmation) gets it as an SMS like any other, written through the
//     store and enqueued as the intake does, under a transactionId of the
//     reply's id, so a redelivered reply answers once; at most the
//     application's answer_limits per phone and keyword, and never "you
//     are opted in" to a phone an API opt-out still blocks
//     (answer_policy.go: a skipped answer is recorded with its reason);
//  4. the reply, keyword or not, is POSTed to the application's inbound
//     callback URL through the status callbacks' queue (signed and retried
//     like them), under a task id of the reply's id, with the keyed hash
//     of the phone instead of its number for an application with
//     hash_numbers.
//
// Steps 3 and 4 are recorded in the stored reply when done, so a
// redelivery after a crash between any two steps does the rest and
// repeats nothing that finished. A reply to a sender no application sends
// from changes nothing and is kept, unmatched and bounded, for the
// operator (store.AddUnmatched, once per id).
type Applier struct {
	Store *store.Store
	// Apps says which applications send from a sender (SenderScope form).
	Apps     func(sender string) []string
	Keywords *Keywords
	// Settings are each application's inbound settings.
	Settings func(app string) config.ApplicationInbound
	// Answers writes the keyword answers; nil answers nothing.
	Answers *Answers
	// Callbacks forwards replies to callback URLs; nil forwards nothing.
	Callbacks *Callbacks
	// Retention is how long an application's replies are kept (nil or 0:
	// the store's retention).
	Retention func(app string) time.Duration
	Log       *zap.Logger
}

// Apply applies one reply. An error leaves it to be applied again (the
// consumer retries, the webhook answers 503); every step is idempotent.
func (a *Applier) Apply(ctx context.Context, m Message) error {
	sender, ok := store.SenderScope(m.To)
	var apps []string
	if ok {
		apps = a.Apps(sender)
	}
	if len(apps) == 0 {
		return a.unmatched(ctx, m, sender, ok)
	}
	// Opt-outs first, for every application: consent is what must not
	// wait on a slow callback queue or answer, and a stored reply then
	// means its opt-out change is in (tests wait on that).
	for _, app := range apps {
		if err := a.applyKeyword(ctx, app, sender, m); err != nil {
			return fmt.Errorf("inbound %s for %s: %w", m.ID, app, err)
		}
	}
	for _, app := range apps {
		if err := a.applyTo(ctx, app, m); err != nil {
			return fmt.Errorf("inbound %s for %s: %w", m.ID, app, err)
		}
	}
	return nil
}

// applyKeyword applies a STOP or START word to app's opt-outs for sender
// (a second application of the same word changes nothing).
func (a *Applier) applyKeyword(ctx context.Context, app, sender string, m Message) error {
	kw := a.Keywords.Of(app, m.Text)
	if kw != KeywordStop && kw != KeywordStart {
		return nil
	}
	changed, err := a.Store.ApplyReply(ctx, store.Reply{Phone: m.From, Sender: sender, Provider: m.Provider, Start: kw == KeywordStart, Apps: []string{app}})
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		a.Log.Info("inbound keyword changed opt-outs", zap.String("keyword", kw), zap.String("app", app), zap.String("sender", sender),
			zap.String("from", sms.MaskPhone(m.From)), zap.String("provider", m.Provider))
	}
	return nil
}

// unmatched keeps a reply no application's sender got: applying it to any
// application would let a reply meant for one tenant (or a forged `to`)
// change another's list or reach its callback.
func (a *Applier) unmatched(ctx context.Context, m Message, sender string, isSender bool) error {
	to := sender
	if !isSender {
		to = strings.ToValidUTF8(m.To, "?")
		if len(to) > MaxTo {
			to = to[:MaxTo]
		}
	}
	kw := a.Keywords.Fleet(m.Text)
	if err := a.Store.AddUnmatched(ctx, store.UnmatchedReply{ID: m.ID, Provider: m.Provider, From: m.From, To: to, Keyword: kw, Text: m.Text}); err != nil {
		return err
	}
	metrics.InboundUnmatched.WithLabelValues(m.Provider).Inc()
	a.Log.Warn("inbound reply to a sender no application sends from: kept as unmatched, nothing changed",
		zap.String("id", m.ID), zap.String("keyword", kw), zap.String("to", to), zap.String("from", sms.MaskPhone(m.From)), zap.String("provider", m.Provider))
	return nil
}

func (a *Applier) retention(app string) time.Duration {
	if a.Retention == nil {
		return 0
	}
	return a.Retention(app)
}

// applyTo keeps the reply for app, answers its keyword and forwards it.
func (a *Applier) applyTo(ctx context.Context, app string, m Message) error {
	kw := a.Keywords.Of(app, m.Text)
	rec := store.InboundMessage{ID: m.ID, Provider: m.Provider, From: m.From, To: m.To, Text: m.Text, At: m.At, Keyword: kw}
	fresh, err := a.Store.SaveInbound(ctx, app, rec, a.retention(app))
	if err != nil {
		return err
	}
	if !fresh {
		// Stored before: a redelivery, or a retry after a failed step.
		// What was done is recorded in it.
		if rec, err = a.Store.GetInbound(ctx, app, m.ID); err != nil {
			return fmt.Errorf("read stored reply: %w", err)
		}
	}
	var settings config.ApplicationInbound
	if a.Settings != nil {
		settings = a.Settings(app)
	}
	if a.Answers != nil && kw != "" && rec.Steps[store.StepAutoReply] == "" {
		if err := a.answer(ctx, app, m, kw, settings); err != nil {
			return err
		}
	}
	if a.Callbacks != nil && settings.CallbackURL != "" && rec.Steps[store.StepCallback] == "" {
		if err := a.Callbacks.Forward(ctx, app, settings.CallbackURL, rec, settings.NumberHashKey); err != nil {
			return fmt.Errorf("forward to the inbound callback: %w", err)
		}
		if err := a.Store.MarkInboundStep(ctx, app, m.ID, store.StepCallback, "1"); err != nil {
			return err
		}
	}
	if fresh {
		metrics.InboundReplies.WithLabelValues(m.Provider, keywordLabel(kw)).Inc()
		a.Log.Info("inbound reply kept", zap.String("id", m.ID), zap.String("app", app), zap.String("keyword", kw),
			zap.String("from", sms.MaskPhone(m.From)), zap.String("provider", m.Provider))
	}
	return nil
}

// answerOf is the configured answer to keyword kw ("" for none).
func answerOf(s config.ApplicationInbound, kw string) string {
	switch kw {
	case KeywordStop:
		return s.StopConfirmation
	case KeywordStart:
		return s.StartConfirmation
	case KeywordHelp:
		return s.HelpText
	}
	return ""
}

func keywordLabel(kw string) string {
	if kw == "" {
		return "none"
	}
	return kw
}
