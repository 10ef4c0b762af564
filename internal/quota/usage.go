package quota

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
)

// Usage is one quota of an application now: what its period has used,
// its limit and warning threshold, and when the period ends.
type Usage struct {
	Quota       config.QuotaKind
	Used        int64
	Limit       int64
	WarnPercent int
	PeriodEnd   time.Time
}

// Usage reports app's quotas (those set) in their current UTC periods,
// in one round trip.
func (s *Store) Usage(ctx context.Context, app string) ([]Usage, error) {
	qs := s.quotas(app)
	if !qs.Any() {
		return nil, nil
	}
	now := s.now().UTC()
	var day, month *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		day = p.HMGet(ctx, dayKey(app, dayOf(now)), "s", "g", "c")
		month = p.HMGet(ctx, monthKey(app, monthOf(now)), "s", "g", "c")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("quota: usage of %s: %w", app, err)
	}
	var out []Usage
	for k := range config.NumQuotas {
		if qs[k].Limit == 0 {
			continue
		}
		src := day.Val()
		if k.Monthly() {
			src = month.Val()
		}
		used, err := count(src[int(k)/2])
		if err != nil {
			return nil, fmt.Errorf("quota: usage of %s, %s: %w", app, k, err)
		}
		out = append(out, Usage{Quota: k, Used: used, Limit: qs[k].Limit, WarnPercent: qs[k].WarnPercent, PeriodEnd: PeriodEnd(k, now)})
	}
	return out, nil
}

// count reads a totals field (absent: 0).
func count(v any) (int64, error) {
	if v == nil {
		return 0, nil
	}
	sv, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected %T", v)
	}
	return strconv.ParseInt(sv, 10, 64)
}

// Refusal is an SMS quota a request of n SMS would exceed.
type Refusal struct {
	Quota            config.QuotaKind
	Limit, Used, Ask int64
}

// Error reads as the intake answers it: quota sms_per_day 1000 reached
// (998 used, 5 requested).
func (r Refusal) Error() string {
	return fmt.Sprintf("quota %s %d reached (%d used, %d requested)", r.Quota, r.Limit, r.Used, r.Ask)
}

// CheckSMS is the intake's check: would n more SMS exceed one of app's
// SMS quotas, as used so far? It reserves nothing (the worker does, per
// SMS, exactly); it only refuses early what would surely be refused.
func (s *Store) CheckSMS(ctx context.Context, app string, n int64) (*Refusal, error) {
	qs := s.quotas(app)
	if qs[config.SMSPerDay].Limit == 0 && qs[config.SMSPerMonth].Limit == 0 {
		return nil, nil
	}
	us, err := s.Usage(ctx, app)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		if (u.Quota == config.SMSPerDay || u.Quota == config.SMSPerMonth) && u.Used+n > u.Limit {
			return &Refusal{Quota: u.Quota, Limit: u.Limit, Used: u.Used, Ask: n}, nil
		}
	}
	return nil, nil
}
