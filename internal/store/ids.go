package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// The fleet's SMS id key (docs/decisions.md#20). SMS ids are an HMAC of
// (code, phone) under one key that every process of a fleet must share:
// two processes with different keys would give one SMS two task ids and
// send it twice. So the key lives where every process already agrees,
// in the fleet's Redis (sf:idkey), created once with SET NX; a process
// reads it at start-up and keeps it. Every message records the key's
// fingerprint (sms.IDScheme), so a process that somehow holds another key
// (the key was evicted and recreated, a failover lost it) refuses that
// message's ids instead of deriving different ones.

// WithIDs gives the store the fleet's id key (LoadIDs). Without it the
// store loads the key from Redis when it first needs it.
func WithIDs(ids sms.IDs) Option {
	return func(s *Store) { s.ids = ids }
}

// ErrIDKeyMismatch is returned (wrapped) by LoadIDs when Redis holds
// another key than the one the process was configured with.
var ErrIDKeyMismatch = errors.New("the SMS id key in Redis differs from SMSFLEET_ID_SECRET")

// LoadIDs returns the fleet's id derivation, keyed with the key Redis
// holds, creating the key first if there is none: pin when given (an
// operator's SMSFLEET_ID_SECRET), else a random one. With pin, a key in
// Redis that is not pin is ErrIDKeyMismatch: the process must not start,
// as it would derive other ids than the fleet.
func LoadIDs(ctx context.Context, rdb redis.UniversalClient, pin string) (sms.IDs, error) {
	if pin != "" && len(pin) < sms.MinIDKeyLen {
		return sms.IDs{}, fmt.Errorf("SMSFLEET_ID_SECRET: %d bytes, want at least %d", len(pin), sms.MinIDKeyLen)
	}
	fresh := pin
	if fresh == "" {
		var err error
		if fresh, err = sms.NewIDKey(); err != nil {
			return sms.IDs{}, err
		}
	}
	// SET NX GET: one round trip that creates the key if absent and
	// returns what was there (Redis 7.0+), so concurrent first starts
	// all end up with the one key that won.
	prev, err := rdb.SetArgs(ctx, keyIDKey, fresh, redis.SetArgs{Mode: "NX", Get: true}).Result()
	key := prev
	switch {
	case errors.Is(err, redis.Nil): // it was absent: ours is the key
		key = fresh
	case err != nil:
		return sms.IDs{}, fmt.Errorf("SMS id key (%s): %w", keyIDKey, err)
	}
	if pin != "" && key != pin {
		return sms.IDs{}, fmt.Errorf("%w (%s): set SMSFLEET_ID_SECRET to the key every other process of the fleet uses, or delete %s only if no message of the old key is still being sent", ErrIDKeyMismatch, keyIDKey, keyIDKey)
	}
	ids, err := sms.NewIDs([]byte(key))
	if err != nil {
		return sms.IDs{}, fmt.Errorf("%s: %w", keyIDKey, err)
	}
	return ids, nil
}

// idsNow returns the store's id derivation, loading the fleet's key from
// Redis the first time when none was given (WithIDs).
func (s *Store) idsNow(ctx context.Context) (sms.IDs, error) {
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	if s.ids.Keyed() {
		return s.ids, nil
	}
	ids, err := LoadIDs(ctx, s.rdb, "")
	if err != nil {
		return sms.IDs{}, err
	}
	s.ids = ids
	return ids, nil
}

// SMSIDs returns the ids of the SMS m sends to phones, derived with the
// scheme m was created with (legacy SHA-256 for a message created before
// keyed ids). Every id of a stored message is computed here, so no caller
// can derive one with another scheme.
func (s *Store) SMSIDs(ctx context.Context, m Message, phones []string) ([]string, error) {
	ids := sms.IDs{}
	if m.IDScheme != sms.LegacyIDs {
		var err error
		if ids, err = s.idsNow(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(phones))
	for i, p := range phones {
		id, err := ids.ID(m.Code, p, m.IDScheme)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// SMSID is SMSIDs for one phone.
func (s *Store) SMSID(ctx context.Context, m Message, phone string) (string, error) {
	ids, err := s.SMSIDs(ctx, m, []string{phone})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// SMSIDOf returns the id of the SMS message code sends to phone, with the
// scheme the stored message records; a message that does not exist (yet)
// gets the scheme a message created now would. For tools and tests that
// know a code and a phone, not the message.
func (s *Store) SMSIDOf(ctx context.Context, code, phone string) (string, error) {
	m := Message{Code: code}
	scheme, err := s.rdb.HGet(ctx, s.k.msg(code), fIDScheme).Result()
	switch {
	case err == nil:
		m.IDScheme = sms.IDScheme(scheme)
	case !errors.Is(err, redis.Nil):
		return "", fmt.Errorf("SMS id of %s: %w", code, err)
	default:
		if n, err := s.rdb.Exists(ctx, s.k.msg(code)).Result(); err != nil {
			return "", fmt.Errorf("SMS id of %s: %w", code, err)
		} else if n == 0 { // not created yet: the current scheme
			ids, err := s.idsNow(ctx)
			if err != nil {
				return "", err
			}
			m.IDScheme = ids.Scheme()
		}
	}
	return s.SMSID(ctx, m, phone)
}
