package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Opt-outs (issue 13, item 7). A phone's opt-outs are kept per application,
// as records, one per scope:
//
//   - the whole application: every SMS of it, whatever its sender;
//   - one sender id of the application: the SMS it sends from that sender.
//
// A STOP from the phone is scoped to the sender it was sent to (carrier
// practice, CTIA: an opt-out belongs to the number or short code it was
// sent to), in each application that sends from that sender. The API opts
// a phone out of the whole application, or of one sender when asked.
//
// Each record says who set it (phone, api, or legacy: written before
// records existed) and when; a phone-set one also through which provider.
// What set it decides what may undo it: only the phone (START to the same
// sender) undoes a phone-set record; the API removes api and legacy ones
// and is refused a phone-set one (ErrSetByPhone).
//
// Layout (keys.go): sf:oo:{app} indexes the phones with any opt-out (the
// list's order, and what versions before the records read);
// sf:or:{app}:{phone} holds the records. A member of sf:oo:{app} without
// records is a legacy opt-out of the whole application.

// OptOutSource says who set an opt-out.
type OptOutSource string

// Sources of an opt-out.
const (
	// SetByPhone: the phone replied STOP. Only the phone undoes it.
	SetByPhone OptOutSource = "phone"
	// SetByAPI: POST /api/v1/optouts. Only the API removes it: a START
	// undoes what the phone did, not the application's own decision.
	SetByAPI OptOutSource = "api"
	// SetByLegacy: stored before opt-outs recorded their source (no
	// record). Read as an opt-out of the whole application that the API
	// may remove, as it could before, and a START to any of the
	// application's senders too, as it did before.
	SetByLegacy OptOutSource = "legacy"
)

// scopeAll is the record field of an opt-out of the whole application.
// Sender ids cannot contain "*" (sms.NormalizeSender), so it is never a
// sender's scope.
const scopeAll = "*"

// OptOutRecord is one opt-out of a phone in an application.
type OptOutRecord struct {
	// Sender is the sender id it is scoped to (SenderScope form); "" is
	// every sender of the application.
	Sender string
	By     OptOutSource
	At     time.Time
	// Provider carried the phone's STOP (phone-set records only).
	Provider string
}

// OptOut is a phone with its opt-outs in one application.
type OptOut struct {
	Phone string
	// Since is when its first current opt-out was set.
	Since   time.Time
	Records []OptOutRecord
}

// ErrSetByPhone is returned (wrapped, as *SetByPhoneError) when the API
// asks to remove an opt-out the phone set: only the phone (START) may.
var ErrSetByPhone = errors.New("opted out by the phone")

// SetByPhoneError names the phone-set records that refused a removal.
type SetByPhoneError struct{ Records []OptOutRecord }

func (e *SetByPhoneError) Error() string {
	parts := make([]string, len(e.Records))
	for i, r := range e.Records {
		parts[i] = fmt.Sprintf("STOP to %s at %s", r.Sender, r.At.Format(time.RFC3339))
		if r.Provider != "" {
			parts[i] += " through " + r.Provider
		}
	}
	return fmt.Sprintf("%s (%s): only the phone can undo it, by replying START to the same sender", ErrSetByPhone, strings.Join(parts, ", "))
}

func (e *SetByPhoneError) Unwrap() error { return ErrSetByPhone }

// SenderScope is the form a sender id takes as an opt-out scope: the
// sender normalised (E.164 for a number), alphanumeric ids upper-cased,
// since operators and handsets do not keep their case. ok is false for
// something that is no sender id.
func SenderScope(sender string) (scope string, ok bool) {
	n, err := sms.NormalizeSender(sender)
	if err != nil {
		return "", false
	}
	return strings.ToUpper(n), true
}

// record is a record's JSON in sf:or.
type record struct {
	By       OptOutSource `json:"by"`
	At       int64        `json:"at"`
	Provider string       `json:"prov,omitempty"`
}

// luaOptOuts is shared by the opt-out scripts.
//
// records(idx, rec, phone) reads the phone's records (field -> decoded),
// reading a legacy opt-out (an index member without records) as a
// whole-application record set by 'legacy'; it writes nothing.
// adopt(idx, rec, phone) writes that legacy record, before a script adds a
// record beside it (otherwise the new record would hide it).
// drop(idx, rec, phone, fields) removes records, and the phone from the
// index once it has none.
const luaOptOuts = `
local function records(idx, rec, phone)
  local out = {}
  local flat = redis.call('HGETALL', rec)
  for i = 1, #flat, 2 do out[flat[i]] = cjson.decode(flat[i + 1]) end
  if #flat == 0 then
    local since = redis.call('ZSCORE', idx, phone)
    if since then out['*'] = {by='legacy', at=tonumber(since)} end
  end
  return out
end
local function adopt(idx, rec, phone)
  if redis.call('EXISTS', rec) == 0 then
    local since = redis.call('ZSCORE', idx, phone)
    if since then redis.call('HSET', rec, '*', cjson.encode({by='legacy', at=tonumber(since)})) end
  end
end
local function drop(idx, rec, phone, fields)
  for _, f in ipairs(fields) do redis.call('HDEL', rec, f) end
  if redis.call('HLEN', rec) == 0 then
    redis.call('DEL', rec)
    redis.call('ZREM', idx, phone)
  end
end
local function set(idx, rec, phone, scope, by, at, prov)
  adopt(idx, rec, phone)
  local cur = redis.call('HGET', rec, scope)
  if cur then
    -- A phone-set record stays as it is (its first time, and only the
    -- phone undoes it); a phone's STOP turns an api or legacy record into
    -- a phone-set one, so the API can no longer remove it.
    if cjson.decode(cur).by == 'phone' or by ~= 'phone' then return 0 end
  end
  local r = {by=by, at=at}
  if prov ~= '' then r.prov = prov end
  redis.call('HSET', rec, scope, cjson.encode(r))
  redis.call('ZADD', idx, 'NX', at, phone)
  return 1
end
`

// scriptOptOut records one opt-out (the API's).
//
// KEYS[1] -> sf:oo:<app>
// KEYS[2] -> sf:or:<app>:<phone>
// ARGV[1] -> phone
// ARGV[2] -> scope ("*" or a sender)
// ARGV[3] -> set by (phone, api)
// ARGV[4] -> now (unix ms)
// ARGV[5] -> provider ("" for none)
//
// Returns 1 when it added or changed a record, 0 when one stood already.
var scriptOptOut = newScript("optout", luaOptOuts+`
return set(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5])
`)

// scriptReply applies a phone's STOP or START to the applications whose
// keys it is given (ApplyReply gives it one application's: each
// application's keys have their own hash slot).
//
// KEYS[2i-1] -> sf:oo:<app i>
// KEYS[2i]   -> sf:or:<app i>:<phone>
// ARGV[1] -> phone
// ARGV[2] -> "stop" or "start"
// ARGV[3] -> scope: the sender replied to (SenderScope)
// ARGV[4] -> now (unix ms)
// ARGV[5] -> provider that carried the reply
//
// A STOP sets a phone-set record for the sender. A START removes the
// phone-set record for that sender and a legacy whole-application one;
// never an api one (the API's decision is the API's to undo).
//
// Returns JSON: an array of 0/1 per application, 1 where it changed.
var scriptReply = newScript("optout_reply", luaOptOuts+`
local changed = {}
for i = 1, #KEYS, 2 do
  local idx, rec = KEYS[i], KEYS[i + 1]
  if ARGV[2] == 'stop' then
    changed[#changed + 1] = set(idx, rec, ARGV[1], ARGV[3], 'phone', tonumber(ARGV[4]), ARGV[5])
  else
    local rs, gone = records(idx, rec, ARGV[1]), {}
    if rs[ARGV[3]] and rs[ARGV[3]].by == 'phone' then gone[#gone + 1] = ARGV[3] end
    if rs['*'] and rs['*'].by == 'legacy' then gone[#gone + 1] = '*' end
    drop(idx, rec, ARGV[1], gone)
    changed[#changed + 1] = (#gone > 0) and 1 or 0
  end
end
return cjson.encode(changed)
`)

// scriptOptIn removes the API-removable opt-outs of a phone (the API's
// DELETE): every api or legacy record in scope, unless a phone-set record
// is in scope, in which case nothing.
//
// KEYS[1] -> sf:oo:<app>
// KEYS[2] -> sf:or:<app>:<phone>
// ARGV[1] -> phone
// ARGV[2] -> scope ("" for every record, "*" or a sender for that one)
//
// Returns JSON {removed=n, held=n}: held counts the phone-set records in
// scope that refused the removal (then removed is 0).
var scriptOptIn = newScript("optin", luaOptOuts+`
local rs, gone, held = records(KEYS[1], KEYS[2], ARGV[1]), {}, 0
for f, r in pairs(rs) do
  if ARGV[2] == '' or ARGV[2] == f then
    if r.by == 'phone' then held = held + 1 else gone[#gone + 1] = f end
  end
end
if held > 0 then return cjson.encode({removed=0, held=held}) end
drop(KEYS[1], KEYS[2], ARGV[1], gone)
return cjson.encode({removed=#gone, held=0})
`)

// scopeArg is the record field of sender ("" for the whole application).
func scopeArg(sender string) string {
	if sender == "" {
		return scopeAll
	}
	return sender
}

// AddOptOut opts phone out of app's SMS as the API does: from every
// sender of the application, or from one (sender, SenderScope form). It
// reports whether it added a record (false: one stood already, and stays
// as it was).
func (s *Store) AddOptOut(ctx context.Context, app, phone, sender string) (bool, error) {
	n, err := s.runDurable(ctx, scriptOptOut, []string{s.k.optOut(app), s.k.optOutRecord(app, phone)},
		phone, scopeArg(sender), string(SetByAPI), ms(s.now()), "")
	if err != nil {
		return false, fmt.Errorf("opt out: %w", err)
	}
	return n == int64(1), nil
}

// RemoveOptOut is the API's opt-in: it removes phone's api and legacy
// opt-outs in app, all of them (sender "") or the one scoped to sender
// ("*" is the whole-application one). A phone-set opt-out in that scope
// refuses it whole: a *SetByPhoneError (ErrSetByPhone) and nothing
// removed. It reports whether it removed anything.
func (s *Store) RemoveOptOut(ctx context.Context, app, phone, sender string) (bool, error) {
	raw, err := s.runDurable(ctx, scriptOptIn, []string{s.k.optOut(app), s.k.optOutRecord(app, phone)}, phone, sender)
	if err != nil {
		return false, fmt.Errorf("opt in: %w", err)
	}
	var res struct{ Removed, Held int }
	if err := decodeJSON(raw, &res); err != nil {
		return false, fmt.Errorf("opt in: %w", err)
	}
	if res.Held > 0 {
		o, err := s.GetOptOut(ctx, app, phone)
		if err != nil {
			return false, err
		}
		held := &SetByPhoneError{}
		for _, r := range o.Records {
			if r.By == SetByPhone && (sender == "" || scopeArg(r.Sender) == sender) {
				held.Records = append(held.Records, r)
			}
		}
		return false, held
	}
	return res.Removed > 0, nil
}

// Reply is a phone's STOP or START to a sender, for the applications that
// send from it.
type Reply struct {
	Phone string
	// Sender is the sender replied to, SenderScope form.
	Sender   string
	Provider string
	// Start: START (opt back in); else STOP.
	Start bool
	Apps  []string
}

// ApplyReply applies a phone's STOP or START to every application of r
// and returns the applications it changed: scriptReply once per
// application, pipelined (each application's keys are in its own hash
// slot, so each is its own atomic step).
func (s *Store) ApplyReply(ctx context.Context, r Reply) ([]string, error) {
	if len(r.Apps) == 0 {
		return nil, nil
	}
	kw := "stop"
	if r.Start {
		kw = "start"
	}
	now := ms(s.now())
	calls := make([]*scriptCall, len(r.Apps))
	for i, app := range r.Apps {
		calls[i] = newCall(scriptReply, []string{s.k.optOut(app), s.k.optOutRecord(app, r.Phone)}, r.Phone, kw, r.Sender, now, r.Provider)
	}
	perr := s.runCalls(ctx, calls, true)
	var out []string
	var notReplicated error
	for i, c := range calls {
		raw, err := s.result(c)
		if raw == nil {
			return nil, fmt.Errorf("apply %s reply: %w", kw, firstErr(err, perr))
		}
		var changed []int
		if derr := decodeJSON(raw, &changed); derr != nil {
			return nil, fmt.Errorf("apply %s reply: %w", kw, derr)
		}
		if len(changed) == 1 && changed[0] == 1 {
			out = append(out, r.Apps[i])
		}
		notReplicated = firstErr(notReplicated, err)
	}
	if notReplicated != nil {
		return nil, fmt.Errorf("apply %s reply: %w", kw, notReplicated)
	}
	return out, nil
}

// GetOptOut reads phone's opt-outs in app (no records: not opted out).
func (s *Store) GetOptOut(ctx context.Context, app, phone string) (OptOut, error) {
	var since *redis.FloatCmd
	var recs *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		since = p.ZScore(ctx, s.k.optOut(app), phone)
		recs = p.HGetAll(ctx, s.k.optOutRecord(app, phone))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return OptOut{}, fmt.Errorf("get opt-out: %w", err)
	}
	return optOutOf(phone, since, recs.Val()), nil
}

// optOutOf builds a phone's opt-out from its index score and records.
func optOutOf(phone string, since *redis.FloatCmd, recs map[string]string) OptOut {
	o := OptOut{Phone: phone}
	if since.Err() == nil {
		o.Since = time.UnixMilli(int64(since.Val())).UTC()
	}
	if len(recs) == 0 {
		if !o.Since.IsZero() {
			o.Records = []OptOutRecord{{By: SetByLegacy, At: o.Since}}
		}
		return o
	}
	for field, raw := range recs {
		var r record
		if json.Unmarshal([]byte(raw), &r) != nil {
			continue
		}
		rec := OptOutRecord{By: r.By, At: time.UnixMilli(r.At).UTC(), Provider: r.Provider}
		if field != scopeAll {
			rec.Sender = field
		}
		o.Records = append(o.Records, rec)
		if o.Since.IsZero() || rec.At.Before(o.Since) {
			o.Since = rec.At
		}
	}
	sort.Slice(o.Records, func(i, j int) bool { return o.Records[i].Sender < o.Records[j].Sender })
	return o
}

// ListOptOuts returns app's opted-out phones with their records, newest
// first, at most limit, from offset on; next is -1 on the last page.
func (s *Store) ListOptOuts(ctx context.Context, app string, offset, limit int) ([]OptOut, int, error) {
	zs, err := s.rdb.ZRevRangeWithScores(ctx, s.k.optOut(app), int64(offset), int64(offset+limit)).Result()
	if err != nil {
		return nil, -1, fmt.Errorf("list opt-outs: %w", err)
	}
	next := -1
	if len(zs) > limit {
		zs, next = zs[:limit], offset+limit
	}
	recs := make([]*redis.MapStringStringCmd, len(zs))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			recs[i] = p.HGetAll(ctx, s.k.optOutRecord(app, z.Member.(string)))
		}
		return nil
	}); err != nil {
		return nil, -1, fmt.Errorf("list opt-outs: read records: %w", err)
	}
	out := make([]OptOut, len(zs))
	for i, z := range zs {
		out[i] = optOutOf(z.Member.(string), redis.NewFloatResult(z.Score, nil), recs[i].Val())
	}
	return out, next, nil
}

// Unmatched replies: a reply to a sender no application sends from
// changes nothing; it is kept, bounded, for the operator to read
// (ListUnmatched, or XREVRANGE sf:ibu + - COUNT 20): a keyword (STOP,
// START) and, since issue 17, any other reply with its text.
const (
	// UnmatchedMax bounds the stream's length.
	UnmatchedMax = 10000
	// UnmatchedRetention bounds its entries' age (and the idle stream's).
	UnmatchedRetention = 7 * 24 * time.Hour
)

// UnmatchedReply is an inbound reply that matched no application.
type UnmatchedReply struct {
	At       time.Time
	Provider string
	From     string
	To       string
	// Keyword is "stop", "start" or "" (a reply that is no keyword).
	Keyword string
	// ID is the reply's id (inbound.IDOf): a reply kept under an id is kept
	// once, however often it is redelivered. "" keeps it every time.
	ID string
	// Text is the reply's text, for the operator.
	Text string
}

// scriptUnmatched keeps an unmatched reply, trimmed by count and age,
// once per id.
//
// KEYS[1] -> sf:ibu
// KEYS[2] -> sf:ibi:{sf:ibu}: the ids kept, scored by unix ms (same slot)
// ARGV[1] -> now (unix ms): the entry's id time, unless the stream already
// has a later id (another process's clock), then Redis picks it
// ARGV[2..5] -> provider, from, to, keyword
// ARGV[6] -> max entries
// ARGV[7] -> retention (ms)
// ARGV[8] -> reply id ("" for none), ARGV[9] -> text
//
// Returns 1 when it kept the reply, 0 when its id was kept before.
var scriptUnmatched = newScript("unmatched", `
if ARGV[8] ~= '' then
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[8]) == 0 then return 0 end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. tostring(tonumber(ARGV[1]) - tonumber(ARGV[7])))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[6]) - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
local fields = {'at', ARGV[1], 'prov', ARGV[2], 'from', ARGV[3], 'to', ARGV[4], 'kw', ARGV[5], 'id', ARGV[8], 'text', ARGV[9]}
local ok = redis.pcall('XADD', KEYS[1], 'MAXLEN', ARGV[6], ARGV[1] .. '-*', unpack(fields))
if type(ok) == 'table' and ok.err then redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[6], '*', unpack(fields)) end
redis.call('XTRIM', KEYS[1], 'MINID', tostring(tonumber(ARGV[1]) - tonumber(ARGV[7])))
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 1
`)

// AddUnmatched keeps r in the bounded stream of unmatched replies (once
// per r.ID when it has one).
func (s *Store) AddUnmatched(ctx context.Context, r UnmatchedReply) error {
	if err := scriptUnmatched.Run(ctx, s.rdb, []string{keyUnmatched, keyUnmatchedIDs},
		ms(s.now()), r.Provider, r.From, r.To, r.Keyword, UnmatchedMax, UnmatchedRetention.Milliseconds(), r.ID, r.Text).Err(); err != nil {
		return fmt.Errorf("keep unmatched reply: %w", err)
	}
	return nil
}

// ListUnmatched returns the newest unmatched replies, at most limit.
func (s *Store) ListUnmatched(ctx context.Context, limit int) ([]UnmatchedReply, error) {
	xs, err := s.rdb.XRevRangeN(ctx, keyUnmatched, "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("list unmatched replies: %w", err)
	}
	out := make([]UnmatchedReply, len(xs))
	for i, x := range xs {
		str := func(k string) string { v, _ := x.Values[k].(string); return v }
		at, _ := strconv.ParseInt(str("at"), 10, 64)
		out[i] = UnmatchedReply{At: time.UnixMilli(at).UTC(), Provider: str("prov"), From: str("from"), To: str("to"), Keyword: str("kw"),
			ID: str("id"), Text: str("text")}
	}
	return out, nil
}
