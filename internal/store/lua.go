package store

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Scripts. Each one lives beside its Go caller and is documented in
// asynq's style (KEYS[i] -> key, ARGV[i] -> value, what it returns). Rules
// every script keeps, checked by lua_test.go:
//   - it touches only keys passed in KEYS, so it can run on Redis Cluster
//     once the keys of one call share a slot; ids it needs come in ARGV;
//   - it names no key prefix ('sf:...') and derives nothing from a key's
//     bytes (string.sub);
//   - a result of more than one value is a cjson-encoded table, which Go
//     decodes by name (decodeJSON).

// luaAllowed is the transition table of internal/sms rendered as Lua: two
// string constants of '|'-separated entries ("|queued>sending|...") that
// allowed() and outcome() search. Go and the scripts share one definition
// of a legal move; constants cost nothing per call, where tables were built
// on every run of every script (about 1.5 µs of Redis CPU each).
var luaAllowed = func() string {
	var pairs []string
	for _, from := range sms.AllStatuses {
		for _, to := range sms.AllStatuses {
			if sms.CanMove(from, to) {
				pairs = append(pairs, string(from)+">"+string(to))
			}
		}
	}
	sort.Strings(pairs)
	var outcomes []string
	for _, st := range sms.AllStatuses {
		if st.Outcome() {
			outcomes = append(outcomes, string(st))
		}
	}
	return fmt.Sprintf(`
local function allowed(from, to) return string.find(%q, '|' .. from .. '>' .. to .. '|', 1, true) ~= nil end
local function outcome(st) return string.find(%q, '|' .. st .. '|', 1, true) ~= nil end
`, "|"+strings.Join(pairs, "|")+"|", "|"+strings.Join(outcomes, "|")+"|")
}()

// luaMove is shared by the scripts that move an SMS: move the SMS id at
// skey (message at mkey) to status `to` if the table allows it, stamping
// `up`, setting the field/value pairs given after `now` in the same HSET,
// and moving the counters. A move to an outcome status also appends to the
// outcomes stream ockey in the same atomic step, so an outcome event can be
// late but never lost or doubled (see outcomes.go). It returns whether it
// moved, and the previous status. moveFrom is the same for a caller that
// has read the status already (cur, false when the SMS does not exist).
// A move to a settled status (an outcome, or canceled) redacts the
// message's text when it asks for it and none of its SMS is left unsettled
// (redactSettled, privacy.go).
const luaMove = luaRedact + `
local function moveFrom(cur, skey, mkey, ockey, id, to, now, ...)
  if not cur or not allowed(cur, to) then return false, cur end
  redis.call('HSET', skey, F.st, to, F.up, now, ...)
  if outcome(to) then redis.call('XADD', ockey, '*', 'id', id, F.st, to, 'at', now) end
  redis.call('HINCRBY', mkey, F.c .. cur, -1)
  redis.call('HINCRBY', mkey, F.c .. to, 1)
  -- Settled: a message to redact loses its text in this same step
  -- (privacy.go), never before its SMS was sent.
  if outcome(to) or to == 'canceled' then redactSettled(mkey) end
  return true, cur
end
-- hourlyAction names the hourly counter (h:<action>:<YYYYMMDDHH> of the
-- message) a move to st counts in, or nil: Pushwoosh's "delivery" for
-- delivered, and undelivered and failed for the Message History chart.
local function hourlyAction(st)
  if st == 'delivered' then return 'delivery' end
  if st == 'undelivered' or st == 'failed' then return st end
  return nil
end
local function move(skey, mkey, ockey, id, to, now, ...)
  return moveFrom(redis.call('HGET', skey, F.st), skey, mkey, ockey, id, to, now, ...)
end
-- hsetFrom sets the field/value pairs ARGV[from..to] on key in as few HSETs
-- as Lua's stack allows (unpack takes at most a few thousand values).
local function hsetFrom(key, from, to)
  for i = from, to, 4000 do
    redis.call('HSET', key, unpack(ARGV, i, math.min(i + 3999, to)))
  end
end
`

// luaFieldRef is how a script names a hash field: F.<name> (luaFields).
var luaFieldRef = regexp.MustCompile(`\bF\.([A-Za-z_]+)`)

// scriptSources is every script's full source by name, for LoadScripts
// and for the tests that check the rules above.
var (
	scriptSources = map[string]string{}
	allScripts    []*redis.Script
)

// newScript registers a script: the status checks and move() come first,
// so its body can use them, and every F.<name> becomes its field's literal.
func newScript(name, body string) *redis.Script {
	src := luaFieldRef.ReplaceAllStringFunc(luaAllowed+luaMove+body, func(ref string) string {
		f, ok := luaFields[ref[len("F."):]]
		if !ok {
			panic("store: script " + name + " names unknown field " + ref)
		}
		return "'" + f + "'"
	})
	if _, dup := scriptSources[name]; dup {
		panic("store: script " + name + " registered twice")
	}
	scriptSources[name] = src
	sc := redis.NewScript(src)
	allScripts = append(allScripts, sc)
	return sc
}
