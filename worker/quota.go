package worker

import (
	"context"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/quota"
)

// Quotas enforce the applications' quotas at send time (internal/quota).
type Quotas struct {
	Store  *quota.Store
	Warner *quota.Warner
}

// ReasonQuotaPrefix starts the reason of an SMS a quota suppressed:
// quota_<name>, such as quota_segments_per_day (a family of the outcome
// reason codes, whose home is internal/outcomes/reasons.go).
const ReasonQuotaPrefix = outcomes.QuotaReasonPrefix

// deliverWithinQuota is deliver behind the quotas: only the worker knows
// an SMS's segments and its route's price, so each admitted SMS reserves
// what it uses of its application's quotas (one atomic step for all of
// them, day and month) before anything is begun or called. An SMS a quota
// refuses is suppressed (quota_<name>) and never sent. A reservation is
// kept once a provider could have been called ("count attempts",
// docs/operations.md#quotas-and-budgets), and released when Begin refused
// the SMS in this same run (canceled meanwhile, or its frequency cap):
// then nothing was attempted.
func (s *Sender) deliverWithinQuota(ctx context.Context, items []*item) {
	if s.Quotas == nil || s.Quotas.Store == nil {
		s.deliver(ctx, items)
		return
	}
	fresh, warnings := s.reserve(ctx, items)
	s.deliver(ctx, live(items))
	for _, it := range fresh {
		if it.verdict.fate == fateSent {
			continue
		}
		if it.err == nil && (it.began.Capped || !it.began.OK) {
			if _, err := s.Quotas.Store.Release(ctx, it.l.App, it.l.ID); err != nil {
				it.log.Warn("quota reservation of an SMS Begin refused not released: it stays counted", zap.Error(err))
			}
		}
	}
	if s.Quotas.Warner != nil && len(warnings) > 0 {
		s.Quotas.Warner.Warn(ctx, warnings)
	}
}

// reserve reserves each SMS's use; it returns the SMS reserved in this
// run (not a retry's) and the warnings the reservations claimed. A
// reservation that cannot be made holds the SMS (its task retries): an
// SMS never goes out uncounted.
func (s *Sender) reserve(ctx context.Context, items []*item) (fresh []*item, warnings []quota.Warning) {
	for _, it := range items {
		if !s.Quotas.Store.Quotas(it.l.App).Any() {
			continue
		}
		r, err := s.Quotas.Store.Reserve(ctx, it.l.App, it.l.ID, s.useOf(it))
		switch {
		case err != nil:
			it.verdict, it.err = verdict{fate: fateHeld}, err
		case !r.OK:
			metrics.QuotaRefused.WithLabelValues(r.Over.String(), "send").Inc()
			it.log.Info("sms refused by a quota", zap.Stringer("quota", r.Over), zap.Int64("used", r.Used), zap.Int64("limit", r.Limit))
			it.verdict = verdict{fate: fateSuppress, reason: ReasonQuotaPrefix + r.Over.String()}
		case !r.Again:
			fresh = append(fresh, it)
		}
		warnings = append(warnings, r.Warnings...)
	}
	return fresh, warnings
}

// useOf is what an SMS uses: one SMS, its segments, and its cost at the
// dearest provider of its route to its country (a failover may take it
// to any of them; the budget must hold whichever does). Without any
// price for them the money is 0: an unpriced SMS is not counted in money.
func (s *Sender) useOf(it *item) quota.Use {
	segs := int64(max(it.msg.parts, 1))
	use := quota.Use{SMS: 1, Segments: segs}
	if s.Prices == nil {
		return use
	}
	country := countryOf(it)
	var dearest config.Micros
	for _, m := range it.cands {
		if p, ok := s.Prices.Of(m.Name(), country); ok && p > dearest {
			dearest = p
		}
	}
	use.Money = dearest * config.Micros(segs)
	return use
}
