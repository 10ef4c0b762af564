package worker

import (
	"context"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// guard applies the application's guards (internal/guard) to the SMS
// still on their way, just before they are admitted: the destination
// (allowed countries, denied ranges) of every SMS, since the phone of a
// user or a condition is known only now and an operator may have changed
// the guards since intake; and the OTP pumping caps, counted here for
// every OTP (once per SMS id, whatever the retries). A stopped SMS is
// suppressed with the guard's reason (guard_country, guard_range,
// guard_pumping): nothing is sent.
func (s *Sender) guard(ctx context.Context, items []*item) {
	if s.Guards == nil {
		return
	}
	for _, it := range items {
		rules := s.Guards.Rules(it.l.App)
		if ref := rules.Destination(it.l.To); ref != nil {
			s.Guards.Refused(ref)
			it.log.Info("SMS stopped by a guard", zap.String("rule", ref.Rule), zap.String("why", ref.Msg))
			it.verdict = verdict{fate: fateSuppress, reason: ref.Reason()}
			continue
		}
		if it.l.Type != sms.OTP || !rules.Pumping() {
			continue
		}
		ref, hot, err := s.Guards.Pumping.Charge(ctx, it.l.App, rules, it.l.ID, it.l.To)
		switch {
		case err != nil:
			// Counted or not, the next run decides again (idempotent).
			it.verdict, it.err = verdict{fate: fateHeld}, err
		case ref != nil:
			s.Guards.Refused(ref)
			it.log.Info("OTP stopped by the pumping guard", zap.String("rule", ref.Rule), zap.String("why", ref.Msg))
			it.verdict = verdict{fate: fateSuppress, reason: ref.Reason()}
		case hot:
			s.Guards.Hot(it.l.App, rules, it.l.To)
		}
	}
}
