package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Provider webhooks already taken, by replay id (sf:wh:{prov}:{id}). The
// webhook handlers (receipts/ingress.go, inbound/inbound.go, through
// provider.Seen and provider.Mark) check the id before applying a
// verified webhook and mark it after: a webhook whose id is marked is a
// replay (or a provider's retry of one already applied) and changes
// nothing. Marking after applying, not claiming before, means a claim
// that times out but lands later (a frozen Redis) can never make the
// provider's retry of an unapplied webhook look like a replay; two copies
// racing each other may both apply, which for a receipt or a keyword is
// the same change twice.
//
// The TTL is the caller's: for a Standard Webhooks id, a bit more than
// the window its timestamp is accepted in (signature.SeenTTL), after which
// the timestamp refuses it anyway; for a Twilio sid, which signs no
// timestamp, as long as a replay is to be refused
// (provider.TwilioReplySeenTTL, provider.TwilioReceiptSeenTTL).

// WebhookSeen reports whether provider's webhook id was marked. An error
// (Redis unreachable) must be answered 503 so the provider retries: a
// verified webhook whose id could not be checked is never applied.
func (s *Store) WebhookSeen(ctx context.Context, provider, id string) (bool, error) {
	err := s.rdb.Get(ctx, webhookKey(provider, id)).Err()
	switch {
	case err == redis.Nil:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("checking webhook id of provider %s: %w", provider, err)
	}
	return true, nil
}

// MarkWebhook marks provider's webhook id as taken for ttl (SET NX: the
// first mark's expiry stands).
func (s *Store) MarkWebhook(ctx context.Context, provider, id string, ttl time.Duration) error {
	if err := s.rdb.SetNX(ctx, webhookKey(provider, id), 1, ttl).Err(); err != nil {
		return fmt.Errorf("marking webhook id of provider %s: %w", provider, err)
	}
	return nil
}
