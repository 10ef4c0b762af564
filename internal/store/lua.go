package store

import (
	"fmt"
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

// luaAllowed is the transition table of internal/sms rendered as a Lua
// set, so Go and the scripts share one definition of a legal move.
var luaAllowed = func() string {
	var pairs []string
	for _, from := range sms.AllStatuses {
		for _, to := range sms.AllStatuses {
			if sms.CanMove(from, to) {
				pairs = append(pairs, fmt.Sprintf("[%q]=true", string(from)+">"+string(to)))
			}
		}
	}
	sort.Strings(pairs)
	var outcomes []string
	for _, st := range sms.AllStatuses {
		if st.Outcome() {
			outcomes = append(outcomes, fmt.Sprintf("[%q]=true", st))
		}
	}
	return "local allowed = {" + strings.Join(pairs, ",") + "}\n" +
		"local outcome = {" + strings.Join(outcomes, ",") + "}\n"
}()

// luaMove is shared by the scripts that move an SMS: move the SMS id at
// skey (message at mkey) to status `to` if the table allows it, stamping
// `up` and moving the counters. A move to an outcome status also appends
// to the outcomes stream ockey in the same atomic step, so an outcome event
// can be late but never lost or doubled (see outcomes.go). It returns
// whether it moved, and the previous status.
const luaMove = `
local function move(skey, mkey, ockey, id, to, now)
  local cur = redis.call('HGET', skey, F.st)
  if not cur or not allowed[cur .. '>' .. to] then return false, cur end
  redis.call('HSET', skey, F.st, to, F.up, now)
  if outcome[to] then redis.call('XADD', ockey, '*', 'id', id, F.st, to, 'at', now) end
  redis.call('HINCRBY', mkey, F.c .. cur, -1)
  redis.call('HINCRBY', mkey, F.c .. to, 1)
  return true, cur
end
`

// scriptSources is every script's full source by name, for LoadScripts
// and for the tests that check the rules above.
var (
	scriptSources = map[string]string{}
	allScripts    []*redis.Script
)

// newScript registers a script: the field table F, the status tables and
// move() come first, so its body can use them.
func newScript(name, body string) *redis.Script {
	src := luaFields + luaAllowed + luaMove + body
	if _, dup := scriptSources[name]; dup {
		panic("store: script " + name + " registered twice")
	}
	scriptSources[name] = src
	sc := redis.NewScript(src)
	allScripts = append(allScripts, sc)
	return sc
}
