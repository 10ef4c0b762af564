package store

import (
	"context"
	"fmt"
	"time"
)

// Keyword answer throttle (issue 17): a keyword's answer (HELP text, STOP
// or START confirmation) is an SMS at the fleet's cost, so each
// application answers one phone's keyword at most max times in any
// window, fleet-wide. Key (keys.go's table), the application's:
//
//	sf:at:{app}:{phone}:{kw}  zset  ids of the replies answered, by unix ms; at most max members, expires a window after the last
//
// A sliding window of the replies admitted, by their id: the decision is
// the same however often one reply is applied (a Kafka redelivery, a
// retry after a failed step), so a crash between admitting a reply and
// sending its answer neither loses the answer nor spends a second slot.
const pAnswerThrottle = "sf:at:"

func (k *keyspace) answerThrottle(app, phone, kw string) string {
	return pAnswerThrottle + k.app(app) + ":" + phone + ":" + kw
}

// scriptAdmitAnswer admits one reply's answer, or refuses it.
//
// KEYS[1] -> sf:at:<app>:<phone>:<kw>
// ARGV[1] -> reply id
// ARGV[2] -> now (unix ms)
// ARGV[3] -> window (ms)
// ARGV[4] -> max answers in the window
//
// Returns 1 when the reply's answer may go (admitted now or before), 0
// when the window is full.
var scriptAdmitAnswer = newScript("answer_admit", `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. tostring(now - window + 1))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
return 1
`)

// AdmitAnswer reports whether app may answer keyword kw of phone's reply
// id: at most max answers in any window per (app, phone, kw). The same
// reply id gets the same answer while it is in the window.
func (s *Store) AdmitAnswer(ctx context.Context, app, phone, kw, id string, max int, window time.Duration) (bool, error) {
	if max < 1 || window < time.Millisecond {
		return false, fmt.Errorf("admit answer: max %d and window %s must be positive", max, window)
	}
	n, err := s.runDurable(ctx, scriptAdmitAnswer, []string{s.k.answerThrottle(app, phone, kw)}, id, ms(s.now()), window.Milliseconds(), max)
	if err != nil {
		return false, fmt.Errorf("admit %s answer for %s: %w", kw, app, err)
	}
	return n == int64(1), nil
}
