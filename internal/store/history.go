package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// What the Message History pages (internal/history) read beyond messages
// and SMS records: the key their session cookies are signed with, and the
// per-phone index of SMS ids.
//
//	sf:hkey               string the Message History session key (hex), created once with SET NX by the first API process
//	sf:hp:{app}:{phone}   zset   SMS ids sent to a phone by an application, scored by unix ms; trimmed and expiring with the retention
const (
	keyHistoryKey = "sf:hkey"
	pHistoryPhone = "sf:hp:"
)

// phoneIndex is an application's key (its code is the tag in the tagged
// layout, as for the other per-application keys).
func (k *keyspace) phoneIndex(app, phone string) string {
	return pHistoryPhone + k.app(app) + ":" + phone
}

// historyKeyBytes is the size of a fresh session key.
const historyKeyBytes = 32

// HistoryKey returns the key the Message History signs its session cookies
// and CSRF tokens with, creating it first if Redis has none. Every API
// process of a fleet must hold the same key, or a cookie set by one pod is
// refused by the next; as with the SMS id key (sf:idkey), the first
// process creates it with SET NX GET and every other one reads the winner.
func (s *Store) HistoryKey(ctx context.Context) ([]byte, error) {
	buf := make([]byte, historyKeyBytes)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("history session key: %w", err)
	}
	fresh := hex.EncodeToString(buf)
	prev, err := s.rdb.SetArgs(ctx, keyHistoryKey, fresh, redis.SetArgs{Mode: "NX", Get: true}).Result()
	key := prev
	switch {
	case errors.Is(err, redis.Nil): // absent: ours is the key
		key = fresh
	case err != nil:
		return nil, fmt.Errorf("history session key (%s): %w", keyHistoryKey, err)
	}
	raw, err := hex.DecodeString(key)
	if err != nil || len(raw) < historyKeyBytes/2 {
		return nil, fmt.Errorf("history session key (%s): not a hex key of at least %d bytes: delete it to have a new one made (every session ends)", keyHistoryKey, historyKeyBytes/2)
	}
	return raw, nil
}

// PhoneEntry is one SMS to index under its phone.
type PhoneEntry struct {
	Phone string // E.164
	ID    string // the SMS id
	At    time.Time
}

// IndexPhones records that each entry's SMS went to its phone, for
// SMSByPhone: ZADD to sf:hp:<app>:<phone> scored by unix ms, entries older
// than the retention trimmed, and the key's expiry set to the retention, in
// one pipelined round trip. Indexing an SMS again only moves its score.
func (s *Store) IndexPhones(ctx context.Context, app string, entries []PhoneEntry) error {
	if len(entries) == 0 {
		return nil
	}
	cutoff := ms(s.now().Add(-s.retention))
	var keys []string
	seen := make(map[string]bool, len(entries))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			if ms(e.At) < cutoff { // already past the retention
				continue
			}
			k := s.k.phoneIndex(app, e.Phone)
			p.ZAdd(ctx, k, redis.Z{Score: float64(ms(e.At)), Member: e.ID})
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			p.ZRemRangeByScore(ctx, k, "-inf", "("+strconv.FormatInt(cutoff, 10))
			p.Expire(ctx, k, s.retentions(app).Numbers) // its name is a number (privacy.go)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index phones of %s: %w", app, err)
	}
	return nil
}

// indexPhone adds one SMS to its phone's index inside a pipeline: the
// worker's load does it for every SMS it loads (LoadBatch), so the index
// costs no round trip of its own. ZADD NX keeps the first load's time (a
// retry does not move the SMS); the key expires a retention after its
// last SMS, and SMSByPhone skips entries past the retention inside it.
func (s *Store) indexPhone(ctx context.Context, p redis.Pipeliner, app, phone, id string, at time.Time) {
	if app == "" || phone == "" {
		return // a legacy task: LoadBatch names it first
	}
	k := s.k.phoneIndex(app, phone)
	p.ZAddNX(ctx, k, redis.Z{Score: float64(ms(at)), Member: id})
	p.Expire(ctx, k, s.retentions(app).Numbers) // its name is a number (privacy.go)
}

// SMSByPhone returns the ids of app's SMS to phone (E.164), newest first:
// at most limit (a page may hold a few more, as it never splits one
// millisecond's SMS across pages), from cursor on (0 for the first page).
// next is the cursor of the following page, 0 on the last one. Entries
// past the retention are not returned.
func (s *Store) SMSByPhone(ctx context.Context, app, phone string, limit int, cursor int64) (ids []string, next int64, err error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("sms by phone: limit must be positive, got %d", limit)
	}
	k := s.k.phoneIndex(app, phone)
	max := "+inf"
	if cursor > 0 {
		max = "(" + strconv.FormatInt(cursor, 10)
	}
	min := strconv.FormatInt(ms(s.now().Add(-s.retention)), 10)
	zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Max: max, Min: min, Count: int64(limit) + 1}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("sms by phone: %w", err)
	}
	if len(zs) > limit {
		last := zs[limit-1].Score
		zs = zs[:limit]
		// The next page starts below last: take every id of last's
		// millisecond now, or those beyond the page would be skipped.
		score := strconv.FormatInt(int64(last), 10)
		same, err := s.rdb.ZRevRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Max: score, Min: score}).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("sms by phone: %w", err)
		}
		for len(zs) > 0 && zs[len(zs)-1].Score == last {
			zs = zs[:len(zs)-1]
		}
		zs = append(zs, same...)
		next = int64(last)
	}
	ids = make([]string, len(zs))
	for i, z := range zs {
		ids[i] = z.Member.(string)
	}
	return ids, next, nil
}

// ReceiptCodes returns the provider's error code of each SMS's receipt
// ("" for none, or for a missing record), in one round trip.
func (s *Store) ReceiptCodes(ctx context.Context, ids []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.k.sms(id), fDLRCode)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("receipt codes: %w", err)
	}
	out := make([]string, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// MessageListCursor is the ListMessages cursor whose page starts with the
// messages due before t: the History pages start a date range's listing
// there.
func MessageListCursor(t time.Time) int64 { return msgListScore(t) }
