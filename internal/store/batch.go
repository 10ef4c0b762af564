package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// OutboxDoneMany confirms the enqueue of many messages (an intake group
// commit's batch task holds them all): one ZREM per partition they are in,
// pipelined.
func (s *Store) OutboxDoneMany(ctx context.Context, codes []string) error {
	if len(codes) == 0 {
		return nil
	}
	byPart := map[int][]any{}
	for _, c := range codes {
		p := s.k.partitionOf(c)
		byPart[p] = append(byPart[p], c)
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for part, members := range byPart {
			p.ZRem(ctx, s.k.outbox(part), members...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox done: %w", err)
	}
	return nil
}
