package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Inbound messages (issue 17): every reply from a phone, kept per
// application it was matched to (the applications that send from the
// number or sender id it was sent to), within a retention. The inbound
// consumer (inbound/) writes them; GET /api/v1/inbound and the Message
// History read them. Keys (keys.go's table), each the application's
// (tagged with it, so each script has one slot):
//
//	sf:in:{app}:{id}     hash   one reply: prov, from, to, text, at (unix ms), kw (stop|start|help|""), steps done (cb, ar)
//	sf:il:{app}          zset   the application's reply ids by unix ms; trimmed past the retention, expires with it
//	sf:ip:{app}:{phone}  zset   the reply ids from one phone, as sf:il
//
// A reply's id is derived from its provider's id (inbound.IDOf), so a
// replayed webhook or a redelivered Kafka record names the same hash and
// SaveInbound writes it once.
const (
	pInbound      = "sf:in:"
	pInboundList  = "sf:il:"
	pInboundPhone = "sf:ip:"
	// keyUnmatchedIDs makes AddUnmatched idempotent per reply id. Its hash
	// tag is the unmatched stream's whole name, so both share a slot (a key
	// without braces hashes its whole name).
	keyUnmatchedIDs = "sf:ibi:{" + keyUnmatched + "}"
)

func (k *keyspace) inbound(app, id string) string { return pInbound + k.app(app) + ":" + id }
func (k *keyspace) inboundList(app string) string { return pInboundList + k.app(app) }
func (k *keyspace) inboundPhone(app, phone string) string {
	return pInboundPhone + k.app(app) + ":" + phone
}

// InboundMessage is one reply from a phone, as stored for an application.
type InboundMessage struct {
	ID       string
	Provider string
	From     string // E.164
	To       string // the number or sender id it was sent to
	Text     string
	At       time.Time
	// Keyword is what the reply asked of this application: "stop",
	// "start", "help" or "" (a message for a person).
	Keyword string
	// Steps are the steps of its handling already done (InboundStep).
	Steps map[InboundStep]string
}

// InboundStep names one step of a reply's handling that must happen once
// (a callback POSTed, an answer sent): the consumer records it in the
// reply's hash when done, so a redelivered record skips it.
type InboundStep string

// Steps of a reply's handling.
const (
	StepCallback  InboundStep = "cb" // the callback task was enqueued
	StepAutoReply InboundStep = "ar" // the answer SMS was written (value: its message code)
)

// scriptSaveInbound stores one reply for an application, once.
//
// KEYS[1] -> sf:in:<app>:<id>
// KEYS[2] -> sf:il:<app>
// KEYS[3] -> sf:ip:<app>:<from>
// ARGV[1] -> id
// ARGV[2..6] -> prov, from, to, text, kw
// ARGV[7] -> at (unix ms)
// ARGV[8] -> cutoff (unix ms): index entries older are trimmed
// ARGV[9] -> retention (ms): the keys' expiry
//
// Returns 1 when it stored the reply, 0 when it was stored before.
var scriptSaveInbound = newScript("inbound_save", `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'prov', ARGV[2], 'from', ARGV[3], 'to', ARGV[4], 'text', ARGV[5], 'kw', ARGV[6], 'at', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], ARGV[7], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[8])
  redis.call('PEXPIRE', KEYS[i], ARGV[9])
end
return 1
`)

// scriptInboundStep records a step of a reply's handling, unless the
// reply expired meanwhile (an HSET then would leave a hash without TTL).
//
// KEYS[1] -> sf:in:<app>:<id>
// ARGV[1] -> step field, ARGV[2] -> its value
//
// Returns 1 when recorded, 0 when the reply is gone.
var scriptInboundStep = newScript("inbound_step", `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// SaveInbound stores m for app, for retention (0: the store's), unless
// it was stored before; it reports whether it wrote.
func (s *Store) SaveInbound(ctx context.Context, app string, m InboundMessage, retention time.Duration) (bool, error) {
	if retention <= 0 {
		retention = s.retention
	}
	cutoff := ms(s.now().Add(-retention))
	n, err := s.runDurable(ctx, scriptSaveInbound,
		[]string{s.k.inbound(app, m.ID), s.k.inboundList(app), s.k.inboundPhone(app, m.From)},
		m.ID, m.Provider, m.From, m.To, m.Text, m.Keyword, ms(m.At), cutoff, retention.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("save inbound %s for %s: %w", m.ID, app, err)
	}
	return n == int64(1), nil
}

// MarkInboundStep records that step of app's reply id is done, with value.
func (s *Store) MarkInboundStep(ctx context.Context, app, id string, step InboundStep, value string) error {
	if _, err := s.runDurable(ctx, scriptInboundStep, []string{s.k.inbound(app, id)}, string(step), value); err != nil {
		return fmt.Errorf("mark inbound %s step %s: %w", id, step, err)
	}
	return nil
}

// GetInbound reads app's reply id (ErrNotFound when there is none).
func (s *Store) GetInbound(ctx context.Context, app, id string) (InboundMessage, error) {
	h, err := s.rdb.HGetAll(ctx, s.k.inbound(app, id)).Result()
	if err != nil {
		return InboundMessage{}, fmt.Errorf("get inbound %s: %w", id, err)
	}
	if len(h) == 0 {
		return InboundMessage{}, ErrNotFound
	}
	return inboundOf(id, h), nil
}

func inboundOf(id string, h map[string]string) InboundMessage {
	at, _ := strconv.ParseInt(h["at"], 10, 64)
	m := InboundMessage{ID: id, Provider: h["prov"], From: h["from"], To: h["to"], Text: h["text"], Keyword: h["kw"],
		At: time.UnixMilli(at).UTC()}
	for _, st := range []InboundStep{StepCallback, StepAutoReply} {
		if v, ok := h[string(st)]; ok {
			if m.Steps == nil {
				m.Steps = map[InboundStep]string{}
			}
			m.Steps[st] = v
		}
	}
	return m
}

// InboundQuery selects an application's replies, newest first.
type InboundQuery struct {
	// Phone is the sender of the replies (E.164); "" for every phone.
	Phone string
	// From and To bound their time (zero: unbounded), both included.
	From, To time.Time
	Limit    int
	// Cursor is the next value of the previous page (0: the first).
	Cursor int64
}

// ListInbound returns app's replies matching q, newest first, at most
// q.Limit (a page may hold a few more: it never splits one millisecond's
// replies), and the cursor of the next page (0 on the last one). Replies
// past the retention are not returned.
func (s *Store) ListInbound(ctx context.Context, app string, q InboundQuery, retention time.Duration) ([]InboundMessage, int64, error) {
	if q.Limit <= 0 {
		return nil, 0, fmt.Errorf("list inbound: limit must be positive, got %d", q.Limit)
	}
	if retention <= 0 {
		retention = s.retention
	}
	k := s.k.inboundList(app)
	if q.Phone != "" {
		k = s.k.inboundPhone(app, q.Phone)
	}
	lo := ms(s.now().Add(-retention))
	if !q.From.IsZero() && ms(q.From) > lo {
		lo = ms(q.From)
	}
	hi := "+inf"
	if !q.To.IsZero() {
		hi = strconv.FormatInt(ms(q.To), 10)
	}
	if q.Cursor > 0 && (q.To.IsZero() || q.Cursor <= ms(q.To)) {
		hi = "(" + strconv.FormatInt(q.Cursor, 10)
	}
	zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Max: hi, Min: strconv.FormatInt(lo, 10), Count: int64(q.Limit) + 1}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list inbound: %w", err)
	}
	var next int64
	if len(zs) > q.Limit {
		last := zs[q.Limit-1].Score
		zs = zs[:q.Limit]
		// The next page starts below last: take every reply of last's
		// millisecond now, or those beyond the page would be skipped.
		score := strconv.FormatInt(int64(last), 10)
		same, err := s.rdb.ZRevRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{Max: score, Min: score}).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("list inbound: %w", err)
		}
		for len(zs) > 0 && zs[len(zs)-1].Score == last {
			zs = zs[:len(zs)-1]
		}
		zs = append(zs, same...)
		next = int64(last)
	}
	cmds := make([]*redis.MapStringStringCmd, len(zs))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			cmds[i] = p.HGetAll(ctx, s.k.inbound(app, z.Member.(string)))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("list inbound: read replies: %w", err)
	}
	out := make([]InboundMessage, 0, len(zs))
	for i, z := range zs {
		if h := cmds[i].Val(); len(h) > 0 { // an index entry can outlive its reply by a moment
			out = append(out, inboundOf(z.Member.(string), h))
		}
	}
	return out, next, nil
}
