package store

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/lifecycle"
	"github.com/smsfleet/smsfleet/internal/metrics"
)

// The outcome stream's bound (docs/decisions.md#19). The relay deletes
// what it published, so sf:oc holds only the backlog; while Kafka is down
// that backlog grows with every outcome. Beyond SMSFLEET_OUTCOMES_MAX
// entries the oldest are trimmed (XTRIM MAXLEN ~): their events and status
// callbacks are lost, the SMS records keep the outcome. Each trim is
// counted (sf:cnt outcomes_trimmed, smsfleet_outcomes_trimmed_total) and
// logged as an error, and SmsfleetOutcomesTrimmed alerts on it.

const fOutcomesTrimmed = "outcomes_trimmed"

// OutcomesTrimmed counts outcome events dropped by the stream's bound.
var OutcomesTrimmed = func() prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "smsfleet_outcomes_trimmed_total",
		Help: "Outcome events dropped unpublished because the outcome stream reached SMSFLEET_OUTCOMES_MAX."})
	metrics.Registry.MustRegister(c)
	return c
}()

// TrimOutcomes trims the outcome streams to about max entries in all
// (each partition's to its share, max/P rounded up; Redis trims whole
// nodes, so it may keep a little more) and returns how many events it
// dropped; they are added to the fleet-wide outcomes_trimmed counter (its
// partition's share of it).
func (s *Store) TrimOutcomes(ctx context.Context, max int64) (int64, error) {
	parts := int64(s.Partitions())
	share := (max + parts - 1) / parts
	var total int64
	for p := range s.Partitions() {
		n, err := s.rdb.XTrimMaxLenApprox(ctx, s.k.outcome(p), share, 0).Result()
		if err != nil {
			return total, fmt.Errorf("outcomes: trim partition %d: %w", p, err)
		}
		if n > 0 {
			total += n
			if err := s.rdb.HIncrBy(ctx, s.k.counts(p), fOutcomesTrimmed, n).Err(); err != nil {
				return total, fmt.Errorf("outcomes: count trimmed: %w", err)
			}
		}
	}
	return total, nil
}

// TrimmedOutcomes is how many outcome events were dropped, fleet-wide.
func (s *Store) TrimmedOutcomes(ctx context.Context) (int64, error) {
	n, err := s.sumCounter(ctx, fOutcomesTrimmed)
	if err != nil {
		return 0, fmt.Errorf("trimmed outcomes: %w", err)
	}
	return n, nil
}

// OutcomeTrimmer is the component that keeps the outcome stream within
// Max entries, every Interval. Every worker runs one; trims are idempotent.
type OutcomeTrimmer struct {
	Store    *Store
	Max      int64
	Interval time.Duration
	Log      *zap.Logger
}

// Name names the trimmer in the supervisor's logs.
func (t *OutcomeTrimmer) Name() string { return "outcome-trimmer" }

// Run trims every Interval until ctx is done.
func (t *OutcomeTrimmer) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, t.Interval, func(ctx context.Context) error {
		n, err := t.Store.TrimOutcomes(ctx, t.Max)
		if n > 0 {
			OutcomesTrimmed.Add(float64(n))
			t.Log.Error("outcome stream full: dropped the oldest unpublished events (is Kafka down?)",
				zap.Int64("dropped", n), zap.Int64("max", t.Max))
		}
		return err
	})
}
