package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimWebhook records that provider's webhook with replay id id has been
// taken, and reports false when it already had been: the webhook is then a
// replay (or a provider's retry of one already applied) and must change
// nothing. It is one SET NX with a TTL (sf:wh:{prov}:{id}), so two copies
// racing each other cannot both win. The TTL is the caller's: for a
// Standard Webhooks id, a bit more than the window its timestamp is
// accepted in (signature.SeenTTL), after which the timestamp refuses it
// anyway; for a Twilio sid, which signs no timestamp, as long as a replay
// is to be refused.
//
// An error (Redis unreachable) must be answered with a 5xx so the provider
// retries: the webhook was verified but its id could not be checked.
func (s *Store) ClaimWebhook(ctx context.Context, provider, id string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, webhookKey(provider, id), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claiming webhook id of provider %s: %w", provider, err)
	}
	return ok, nil
}

// ReleaseWebhook forgets a claim whose webhook could not be applied (Kafka
// or Redis failed after the claim), so the provider's retry of it is taken
// rather than refused as a replay.
func (s *Store) ReleaseWebhook(ctx context.Context, provider, id string) error {
	if err := s.rdb.Del(ctx, webhookKey(provider, id)).Err(); err != nil {
		return fmt.Errorf("releasing webhook id of provider %s: %w", provider, err)
	}
	return nil
}
