package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Privacy (issue 17, docs/privacy.md). Three things bound the personal
// data the store keeps for an application:
//
//   - the statistics retention (SMSFLEET_RETENTION, the store's own)
//     bounds the message hash sf:m (its counts, its header) and the lists
//     that index it;
//   - the number retention bounds every key that holds a number: a
//     message's recipient chunks sf:mr, its SMS records sf:s and the
//     per-phone index sf:hp get TTLs from it, and a direct message's
//     "to" field in sf:m is removed by the privacy sweep (sf:px);
//   - the text retention bounds a message's text (fields content and
//     dcp of sf:m), removed by the privacy sweep while the message and
//     its counts stay for the statistics retention.
//
// Redis 7.0 has no per-field TTL (HEXPIRE is 7.4), so the fields of sf:m
// are removed by a sweep: the script that creates a message puts its due
// removals in its partition's sf:px in the same atomic step, and the
// sweep removes a field and its sf:px entry in one script (scriptPrivacy).
// A sweep that dies leaves the entry for the next one: none is missed, and
// a removal at worst runs late by the sweep interval.
//
// Number and text retention count from when the data stops being needed:
// a text from when its SMS could last be sent (due time plus validity), a
// number from when its SMS could last settle (plus the delivery wait), so
// a short retention never takes a text from a retry or a number from a
// late receipt. Both are capped by the statistics retention.
//
// Redaction (createMessage's `redact`) removes a message's text when its
// SMS are settled: luaMove calls redactSettled in the same script that
// moves an SMS to an outcome status or canceled, and scriptCancel calls it
// when a cancel settles whole groups at once. A direct message is settled
// with its SMS; a fanned-out one with its last SMS (its content is the
// template every recipient's text was rendered from; rendered texts are
// never stored). The SMS records keep what statistics need (segments,
// encoding, status, provider, operator).

// keyPrivacy is the privacy sweep's zset, one per partition.
const keyPrivacy = "sf:px"

func (k *keyspace) privacy(p int) string { return keyPrivacy + k.suffix(p) }

// Text states of a message (fTextGone).
const (
	TextRedacted = "redacted"
	TextExpired  = "expired"
)

// luaRedact is redactSettled, shared by every script that settles an SMS
// (luaMove): a message marked rd=1 whose SMS are all settled (no count of
// scheduled, queued, sending or sent left) loses its content and
// placeholders, and tg says so. Other messages pay one HGET.
const luaRedact = `
local function redactSettled(mkey)
  if redis.call('HGET', mkey, F.rd) ~= '1' then return end
  local c = redis.call('HMGET', mkey, F.c .. 'scheduled', F.c .. 'queued', F.c .. 'sending', F.c .. 'sent', F.tg)
  for i = 1, 4 do if tonumber(c[i] or '0') > 0 then return end end
  if c[5] == 'redacted' then return end
  redis.call('HDEL', mkey, F.content, F.dcp)
  redis.call('HSET', mkey, F.tg, 'redacted')
end
`

// Retentions is how long the store keeps an application's data (see
// above): Stats the message and its counts, Texts its text, Numbers its
// numbers. Zero means the store's retention.
type Retentions struct {
	Stats, Texts, Numbers time.Duration
}

// WithRetentions gives each application its retentions (config.Config's
// RetentionsOf); without it every application has the store's retention
// for all three. Texts and Numbers above Stats are taken as Stats.
func WithRetentions(of func(app string) Retentions) Option {
	return func(s *Store) { s.retentionsOf = of }
}

// retentions is app's retentions, defaults filled in and capped.
func (s *Store) retentions(app string) Retentions {
	r := Retentions{Stats: s.retention}
	if s.retentionsOf != nil {
		r = s.retentionsOf(app)
	}
	if r.Stats <= 0 {
		r.Stats = s.retention
	}
	if r.Texts <= 0 || r.Texts > r.Stats {
		r.Texts = r.Stats
	}
	if r.Numbers <= 0 || r.Numbers > r.Stats {
		r.Numbers = r.Stats
	}
	return r
}

// numberTTL is how long (seconds) a key holding a number of app's SMS due
// by deadline (due time plus validity) with delivery wait dw lives, seen
// from now: the number retention after the SMS can last settle, at most
// statsTTL (the message's own TTL).
func (s *Store) numberTTL(app string, now, deadline time.Time, dw time.Duration, statsTTL int64) int64 {
	return min(statsTTL, ttlSeconds(s.retentions(app).Numbers+max(deadline.Sub(now), 0)+dw))
}

// privacyDue is when a message's text (text) and a direct message's
// number field (number) are due for removal by the sweep, in unix ms: 0
// when the message expires first (statsTTL seconds from now).
func (s *Store) privacyDue(m *Message, now, latest time.Time, statsTTL int64) (text, number int64) {
	r := s.retentions(m.App)
	end := now.Add(time.Duration(statsTTL) * time.Second)
	deadline := latest.Add(m.Validity)
	if t := deadline.Add(r.Texts); t.Before(end) {
		text = ms(t)
	}
	if t := deadline.Add(m.DeliveryWait + r.Numbers); m.Direct && t.Before(end) {
		number = ms(t)
	}
	return text, number
}

// scriptPrivacy removes one due field of a message (see above) and its
// sweep entry.
//
// KEYS[1] -> sf:px of the message's partition
// KEYS[2] -> sf:m:<code>
// ARGV[1] -> the entry ("t:<code>" or "n:<code>")
// ARGV[2] -> its kind: "t" or "n"
//
// Returns 1 when it removed something, 0 when the entry was gone (another
// sweep took it) or the message had expired.
var scriptPrivacy = newScript("privacy", `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if ARGV[2] == 't' then
  redis.call('HDEL', KEYS[2], F.content, F.dcp)
  if not redis.call('HGET', KEYS[2], F.tg) then redis.call('HSET', KEYS[2], F.tg, 'expired') end
else
  redis.call('HDEL', KEYS[2], F.to)
end
return 1
`)

// SweepPrivacy removes, in partition part, the texts and numbers whose
// retention has ended, at most limit of them; it returns how many entries
// came due. Run by the delivery-wait sweeper after its own sweep.
func (s *Store) SweepPrivacy(ctx context.Context, part, limit int) (int, error) {
	px := s.k.privacy(part)
	due, err := s.rdb.ZRangeByScore(ctx, px, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(s.now()), 10), Count: int64(limit)}).Result()
	if err != nil {
		return 0, fmt.Errorf("privacy sweep of partition %d: %w", part, err)
	}
	if len(due) == 0 {
		return 0, nil
	}
	_, err = s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, 0, len(due))
		for _, e := range due {
			kind, code, ok := strings.Cut(e, ":")
			if !ok || code == "" || (kind != "t" && kind != "n") { // not an entry of ours: just drop it
				p.ZRem(ctx, px, e)
				continue
			}
			cmds = append(cmds, scriptPrivacy.EvalSha(ctx, p, []string{px, s.k.msg(code)}, e, kind))
		}
		return cmds
	})
	if err != nil {
		return 0, fmt.Errorf("privacy sweep of partition %d: %w", part, err)
	}
	return len(due), nil
}
