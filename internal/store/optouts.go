package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// OptOut is a phone that asked for no more (non-OTP) SMS of an application.
type OptOut struct {
	Phone string
	Since time.Time
}

// AddOptOut opts phone out of app's SMS; it reports whether it was new (a
// repeated opt-out keeps its first time).
func (s *Store) AddOptOut(ctx context.Context, app, phone string) (bool, error) {
	n, err := s.rdb.ZAddNX(ctx, optOutKey(app), redis.Z{Score: float64(ms(s.now())), Member: phone}).Result()
	if err != nil {
		return false, fmt.Errorf("opt out: %w", err)
	}
	return n == 1, nil
}

// RemoveOptOut opts phone back in; it reports whether it was opted out.
func (s *Store) RemoveOptOut(ctx context.Context, app, phone string) (bool, error) {
	n, err := s.rdb.ZRem(ctx, optOutKey(app), phone).Result()
	if err != nil {
		return false, fmt.Errorf("opt in: %w", err)
	}
	return n == 1, nil
}

// ListOptOuts returns app's opted-out phones, newest first, at most limit,
// from offset on; next is -1 on the last page.
func (s *Store) ListOptOuts(ctx context.Context, app string, offset, limit int) ([]OptOut, int, error) {
	zs, err := s.rdb.ZRevRangeWithScores(ctx, optOutKey(app), int64(offset), int64(offset+limit)).Result()
	if err != nil {
		return nil, -1, fmt.Errorf("list opt-outs: %w", err)
	}
	next := -1
	if len(zs) > limit {
		zs, next = zs[:limit], offset+limit
	}
	out := make([]OptOut, len(zs))
	for i, z := range zs {
		out[i] = OptOut{Phone: z.Member.(string), Since: fromMS(strconv.FormatInt(int64(z.Score), 10))}
	}
	return out, next, nil
}
