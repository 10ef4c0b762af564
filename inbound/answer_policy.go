package inbound

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Why a keyword's answer was not sent. The keyword itself (an opt-out,
// an opt-in) was applied all the same; only the SMS is skipped. The
// stored reply's "ar" step records SkippedPrefix + the reason, where a
// sent answer records its message code, so a redelivery skips it again
// and GET /api/v1/inbound shows it (answer_skipped).
const (
	// SkipThrottled: the application's answer_limits for this phone and
	// keyword were spent (store.AdmitAnswer): a phone, or an attacker
	// spoofing many, texting HELP a thousand times gets a few answers.
	SkipThrottled = "throttled"
	// SkipStillOptedOut: a START that removed the phone's own STOP but
	// left an opt-out the application set through the API (START never
	// removes those): "you are opted in" would be false, and the
	// application has no start_blocked_text to say so instead.
	SkipStillOptedOut = "still_opted_out"
	// SkippedPrefix marks a skip in the "ar" step.
	SkippedPrefix = "skipped:"
)

// SkipReason is the reason recorded in a stored reply's "ar" step value,
// "" when it holds an answer's message code (or nothing).
func SkipReason(step string) string {
	r, ok := strings.CutPrefix(step, SkippedPrefix)
	if !ok {
		return ""
	}
	return r
}

// answer sends app's answer to m's keyword kw, or records why not. It
// runs once per reply (until the "ar" step is recorded): the START check
// first, so a START that gets nothing spends no throttle slot; then the
// throttle, which admits one reply id the same way however often it is
// asked, so a crash before the step is recorded neither loses the answer
// nor spends a second slot.
func (a *Applier) answer(ctx context.Context, app string, m Message, kw string, s config.ApplicationInbound) error {
	text := answerOf(s, kw)
	if kw == KeywordStart {
		blocked, err := a.stillOptedOut(ctx, app, m)
		if err != nil {
			return err
		}
		if blocked {
			if s.StartBlockedText == "" && text != "" {
				return a.skip(ctx, app, m, kw, SkipStillOptedOut)
			}
			text = s.StartBlockedText
		}
	}
	if text == "" {
		return nil // nothing configured to answer with
	}
	limit, _ := s.AnswerLimitOf(kw)
	// The throttle's key names the phone: it never outlives the reply
	// itself (kept for the application's retention).
	per := limit.Per
	if r := a.retention(app); r > 0 {
		per = min(per, r)
	}
	ok, err := a.Store.AdmitAnswer(ctx, app, m.From, kw, m.ID, limit.Max, per)
	if err != nil {
		return err
	}
	if !ok {
		return a.skip(ctx, app, m, kw, SkipThrottled)
	}
	code, err := a.Answers.Send(ctx, app, m, kw, text)
	if err != nil {
		return fmt.Errorf("answer %s: %w", kw, err)
	}
	return a.Store.MarkInboundStep(ctx, app, m.ID, store.StepAutoReply, code)
}

// skip records that m's answer was not sent and why, then counts it.
func (a *Applier) skip(ctx context.Context, app string, m Message, kw, reason string) error {
	if err := a.Store.MarkInboundStep(ctx, app, m.ID, store.StepAutoReply, SkippedPrefix+reason); err != nil {
		return err
	}
	metrics.InboundAnswersSkipped.WithLabelValues(kw, reason).Inc()
	a.Log.Info("inbound keyword answer skipped", zap.String("id", m.ID), zap.String("app", app), zap.String("keyword", kw),
		zap.String("reason", reason), zap.String("from", sms.MaskPhone(m.From)))
	return nil
}

// stillOptedOut reports whether m's phone is still opted out of app's SMS
// from the sender it replied to, after its START was applied: an opt-out
// of the whole application, or of that sender, that START does not
// remove (the API's).
func (a *Applier) stillOptedOut(ctx context.Context, app string, m Message) (bool, error) {
	sender, _ := store.SenderScope(m.To)
	o, err := a.Store.GetOptOut(ctx, app, m.From)
	if err != nil {
		return false, fmt.Errorf("read opt-outs after START: %w", err)
	}
	for _, r := range o.Records {
		if r.Sender == "" || r.Sender == sender {
			return true, nil
		}
	}
	return false, nil
}
