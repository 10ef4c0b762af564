package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Costs (issue 18). A sent SMS's cost (segments × its provider's price
// to its country, Outcome.Cost) is recorded on the SMS (fCost) and added,
// in the same script step as the move to sent (scriptTransition), to its
// message's sum (fCost on sf:m) and to its application's sum for the day
// (sf:cd:<YYYYMMDD>, field = application). The day keys are per
// partition, in the message's slot, so the three stay one atomic step on
// a Redis Cluster; a day's sum for an application is the sum over the
// partitions (CostByDay). Amounts are integer millionths of the fleet's
// currency: sums over millions of SMS stay exact.

// pCostDay names a day's cost sums (plus the partition's suffix).
const pCostDay = "sf:cd:"

// costDayTTL keeps a day's sums about 13 months, past a year's invoices,
// independently of the SMS retention.
const costDayTTL = 400 * 24 * time.Hour

// costDayTTLSeconds is costDayTTL as scriptTransition writes it.
var costDayTTLSeconds = strconv.Itoa(int(costDayTTL / time.Second))

// costDay is the key of partition p's sums for the UTC day of t.
func (k *keyspace) costDay(p int, t time.Time) string {
	return pCostDay + t.UTC().Format("20060102") + k.suffix(p)
}

// DayCost is an application's cost of the SMS sent on one UTC day.
type DayCost struct {
	Day    string // YYYY-MM-DD
	Micros int64
}

// maxCostDays bounds a CostByDay range.
const maxCostDays = 400

// CostByDay returns app's cost per UTC day from the day of from to the day
// of to, both included (at most maxCostDays days): one pipelined round
// trip, an HGET per day and partition.
func (s *Store) CostByDay(ctx context.Context, app string, from, to time.Time) ([]DayCost, error) {
	first := from.UTC().Truncate(24 * time.Hour)
	last := to.UTC().Truncate(24 * time.Hour)
	if last.Before(first) {
		return nil, fmt.Errorf("cost by day: %s is after %s", first.Format(time.DateOnly), last.Format(time.DateOnly))
	}
	days := int(last.Sub(first)/(24*time.Hour)) + 1
	if days > maxCostDays {
		return nil, fmt.Errorf("cost by day: %d days, at most %d", days, maxCostDays)
	}
	parts := s.Partitions()
	cmds := make([][]*redis.StringCmd, days)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for d := range days {
			day := first.Add(time.Duration(d) * 24 * time.Hour)
			cmds[d] = make([]*redis.StringCmd, parts)
			for part := range parts {
				cmds[d][part] = p.HGet(ctx, s.k.costDay(part, day), app)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cost by day: %w", err)
	}
	out := make([]DayCost, days)
	for d := range days {
		out[d].Day = first.Add(time.Duration(d) * 24 * time.Hour).Format(time.DateOnly)
		for _, c := range cmds[d] {
			if errors.Is(c.Err(), redis.Nil) {
				continue // nothing that day in this partition
			}
			n, err := c.Int64()
			if err != nil {
				return nil, fmt.Errorf("cost by day %s: %w", out[d].Day, err)
			}
			out[d].Micros += n
		}
	}
	return out, nil
}
