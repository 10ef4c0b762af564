package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// SMS is the record of one message to one phone.
type SMS struct {
	ID          string
	Code        string
	To          string
	Status      sms.Status
	Provider    string
	ProviderRef string
	Segments    int
	Encoding    string
	Error       string
	// Reason says why an SMS was suppressed.
	Reason string
	// Operator is the recipient's mobile network ("DE:Telekom"), as rate
	// limiting saw it when the SMS was sent.
	Operator  string
	Attempts  int
	Deadline  time.Time
	UpdatedAt time.Time
	// Cost is what the SMS cost in millionths of the fleet's currency,
	// when Priced (cost.go).
	Cost   int64
	Priced bool
	// History is every provider call made for the SMS, oldest first.
	History []Attempt
}

// Attempt is one provider call for an SMS.
type Attempt struct {
	Provider string    `json:"provider"`
	At       time.Time `json:"at"`
	// Outcome is "sent", or the failure's class: "transient", "throttled",
	// "permanent".
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

func attemptArgs(list []Attempt) []any {
	out := make([]any, 0, len(list))
	for _, a := range list {
		// Kept for the statistics retention: no number in it (privacy.go).
		a.Error = sms.MaskPhonesIn(a.Error)
		b, _ := json.Marshal(a)
		out = append(out, string(b))
	}
	return out
}

// GetSMS loads one SMS record.
func (s *Store) GetSMS(ctx context.Context, id string) (SMS, error) {
	recs, err := s.GetSMSBatch(ctx, []string{id})
	if err != nil {
		return SMS{}, err
	}
	if recs[0].ID == "" {
		return SMS{}, ErrNotFound
	}
	return recs[0], nil
}

// GetSMSBatch loads many SMS records in one round trip; a missing one is
// returned as the zero SMS.
func (s *Store) GetSMSBatch(ctx context.Context, ids []string) ([]SMS, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	hist := make([]*redis.StringSliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.k.sms(id))
			hist[i] = p.LRange(ctx, s.k.attempts(id), 0, -1)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("get sms: %w", err)
	}
	out := make([]SMS, len(ids))
	for i, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			continue
		}
		seg, _ := strconv.Atoi(h[fSegments])
		att, _ := strconv.Atoi(h[fAttempts])
		out[i] = SMS{
			ID: ids[i], Code: h[fMsgCode], To: h[fTo], Status: sms.Status(h[fStatus]), Provider: h[fProvider],
			ProviderRef: h[fRef], Segments: seg, Encoding: h[fEncoding], Error: h[fError], Reason: h[fReason], Operator: h[fOperator], Attempts: att,
			Deadline: fromMS(h[fDeadline]), UpdatedAt: fromMS(h[fUpdated]),
		}
		if c, ok := h[fCost]; ok {
			out[i].Cost, _ = strconv.ParseInt(c, 10, 64)
			out[i].Priced = true
		}
		for _, raw := range hist[i].Val() {
			var a Attempt
			if json.Unmarshal([]byte(raw), &a) == nil {
				out[i].History = append(out[i].History, a)
			}
		}
	}
	return out, nil
}

// Loaded is everything the worker needs to judge, render and send one
// SMS, read in one round trip (LoadSMS).
type Loaded struct {
	ID string
	// OK is false when the SMS is not queued or sending (canceled, already
	// sent, never created): its task is then done.
	OK       bool
	Status   sms.Status
	To       string
	Attempts int
	Deadline time.Time
	App      string
	Type     sms.Type
	// Content and Placeholders are the message's JSON (see Message).
	Content      string
	Placeholders string
	Sender       string
	CappingDays  int
	CappingCount int
	// SendRate is the message's send_rate (SMS per second; 0: none).
	SendRate int
	// OptedOut: the phone opted out of every SMS of the application;
	// OptedOutFrom: of the application's SMS from these senders
	// (SenderScope form). Judge decides with the SMS's sender.
	OptedOut     bool
	OptedOutFrom []string
	// Device is the recipient's device, when it is registered.
	Device *Device
	// LastProvider took the previous attempt; LastAmbiguous says that
	// attempt may have been accepted (a retry must go back to it).
	LastProvider  string
	LastAmbiguous bool
	// Attempting is set by the caller of Begin, not by a load: the
	// provider this attempt goes to first. Begin records it as in flight
	// (see fInFlight), so a crash before the attempt is settled leaves the
	// SMS bound to that provider.
	Attempting string
}

// SMSRef names an SMS to load: its id and, when the caller knows them
// (the send task carries them), its application and phone, which name the
// device and opt-out keys. Without them LoadBatch reads them first.
type SMSRef struct{ ID, App, Phone string }

// scriptLoad reads what the SMS and its message say for the worker to
// judge and render one SMS. It changes no SMS state: taking the SMS is
// Begin's. A running task proves its message was enqueued, so the
// message's outbox entry goes (for a direct send this saves the intake a
// round trip). The recipient's device and opt-outs are the application's
// keys, in another hash slot: LoadBatch reads them in the same pipeline
// (appReads), outside the script.
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:m:<code>
// KEYS[3] -> sf:outbox of the message's partition
// ARGV[1] -> message code (the outbox member)
// ARGV[2] -> phone the caller named the application's keys for
// ARGV[3] -> application the caller named them for
//
// Returns JSON: {state="done", st} when the SMS is not queued or sending;
// {state="stale", to, app} when the application's keys were named for
// another phone or application (the caller retries with these); else
// {state="ok", st, to, a, dl, p, amb, fl, app, type, content, sender, dcp,
// cd, cc, sr, ka}.
var scriptLoad = newScript("load", `
redis.call('ZREM', KEYS[3], ARGV[1])
local s = redis.call('HMGET', KEYS[1], F.st, F.to, F.a, F.dl, F.p, F.amb, F.fl)
if not s[1] then return cjson.encode({state='done', st=''}) end
if s[1] ~= 'queued' and s[1] ~= 'sending' then return cjson.encode({state='done', st=s[1]}) end
local m = redis.call('HMGET', KEYS[2], F.app, F.type, F.content, F.sender, F.dcp, F.cd, F.cc, F.sr, F.ka)
local app = m[1] or ''
if s[2] ~= ARGV[2] or app ~= ARGV[3] then return cjson.encode({state='stale', to=s[2], app=app}) end
return cjson.encode({state='ok', st=s[1], to=s[2], a=s[3] or '0', dl=s[4] or '0', p=s[5] or '', amb=s[6] or '0', fl=s[7] or '',
  app=app, type=m[2] or '', content=m[3] or '', sender=m[4] or '', dcp=m[5] or '', cd=m[6] or '0', cc=m[7] or '0', sr=m[8] or '0', ka=m[9] or ''})
`)

// appReads are the recipient's device and opt-out state, read in the
// load's pipeline: oo is an opt-out of the whole application, oos the
// senders the phone opted out of (optouts.go; an index member without
// records is a legacy whole-application opt-out).
type appReads struct {
	device *redis.MapStringStringCmd
	since  *redis.FloatCmd
	scopes *redis.StringSliceCmd
}

func (s *Store) readApp(ctx context.Context, p redis.Pipeliner, app, phone string) appReads {
	return appReads{
		device: p.HGetAll(ctx, s.k.device(app, phone)),
		since:  p.ZScore(ctx, s.k.optOut(app), phone),
		scopes: p.HKeys(ctx, s.k.optOutRecord(app, phone)),
	}
}

// apply sets what the reads say on l.
func (a appReads) apply(l *Loaded) {
	scopes := a.scopes.Val()
	if len(scopes) == 0 {
		l.OptedOut = a.since.Err() == nil
	}
	for _, sc := range scopes {
		if sc == scopeAll {
			l.OptedOut = true
		} else {
			l.OptedOutFrom = append(l.OptedOutFrom, sc)
		}
	}
	if dev := a.device.Val(); len(dev) > 0 {
		d := deviceFromHash(l.To, dev)
		l.Device = &d
	}
}

// loadResult is scriptLoad's JSON.
type loadResult struct {
	State        string `json:"state"`
	Status       string `json:"st"`
	To           string `json:"to"`
	Attempts     string `json:"a"`
	Deadline     string `json:"dl"`
	LastProvider string `json:"p"`
	Ambiguous    string `json:"amb"`
	InFlight     string `json:"fl"`
	App          string `json:"app"`
	Type         string `json:"type"`
	Content      string `json:"content"`
	Sender       string `json:"sender"`
	Placeholders string `json:"dcp"`
	CapDays      string `json:"cd"`
	CapCount     string `json:"cc"`
	SendRate     string `json:"sr"`
	// KeywordAnswer is "1" for the answer to a phone's keyword.
	KeywordAnswer string `json:"ka"`
}

// LoadSMS reads one SMS by id alone (see LoadBatch).
func (s *Store) LoadSMS(ctx context.Context, id string) (l Loaded, ok bool, err error) {
	ls, err := s.LoadBatch(ctx, []SMSRef{{ID: id}})
	if err != nil {
		return Loaded{}, false, err
	}
	return ls[0], ls[0].OK, nil
}

// LoadBatch reads SMS with their message and the recipient's device and
// opt-out state: one pipelined round trip when every ref names its
// application and phone (the SMS's partition script and the application's
// reads side by side), one more for those that do not (a legacy send task)
// or named them wrong.
func (s *Store) LoadBatch(ctx context.Context, refs []SMSRef) ([]Loaded, error) {
	out := make([]Loaded, len(refs))
	todo := make([]int, 0, len(refs))
	for i := range refs {
		todo = append(todo, i)
	}
	now := s.now()
	for try := 0; len(todo) > 0; try++ {
		if try == 2 {
			return nil, fmt.Errorf("load sms %s: its application or phone keeps changing", refs[todo[0]].ID)
		}
		if err := s.nameLoadKeys(ctx, refs, todo); err != nil {
			return nil, err
		}
		reads := make([]appReads, len(todo))
		cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
			cmds := make([]*redis.Cmd, len(todo))
			for j, i := range todo {
				r := refs[i]
				code := sms.MessageCodeOf(r.ID)
				cmds[j] = scriptLoad.EvalSha(ctx, p, []string{s.k.sms(r.ID), s.k.msg(code), s.k.outbox(s.k.partitionOfID(r.ID))}, code, r.Phone, r.App)
				reads[j] = s.readApp(ctx, p, r.App, r.Phone)
				s.indexPhone(ctx, p, r.App, r.Phone, r.ID, now)
			}
			return cmds
		})
		if err != nil {
			return nil, fmt.Errorf("load sms: %w", err)
		}
		var stale []int
		for j, i := range todo {
			var res loadResult
			if err := decodeJSON(cmds[j].Val(), &res); err != nil {
				return nil, fmt.Errorf("load sms %s: %w", refs[i].ID, err)
			}
			if res.State == "stale" {
				refs[i].App, refs[i].Phone = res.App, res.To
				stale = append(stale, i)
				continue
			}
			out[i] = res.loaded(refs[i].ID)
			if out[i].OK {
				reads[j].apply(&out[i])
				if res.KeywordAnswer == "1" {
					// A STOP's confirmation goes to the phone that just
					// stopped (Message.KeywordAnswer).
					out[i].OptedOut, out[i].OptedOutFrom = false, nil
				}
			}
		}
		todo = stale
	}
	return out, nil
}

// nameLoadKeys reads, in one round trip, the application and phone of the
// refs that lack them.
func (s *Store) nameLoadKeys(ctx context.Context, refs []SMSRef, todo []int) error {
	type pending struct {
		i       int
		to, app *redis.StringCmd
	}
	var need []pending
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range todo {
			if refs[i].App == "" || refs[i].Phone == "" {
				id := refs[i].ID
				need = append(need, pending{i: i, to: p.HGet(ctx, s.k.sms(id), fTo), app: p.HGet(ctx, s.k.msg(sms.MessageCodeOf(id)), fApp)})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("load sms: name its keys: %w", err)
	}
	for _, n := range need {
		refs[n.i].Phone, refs[n.i].App = n.to.Val(), n.app.Val()
	}
	return nil
}

func (r loadResult) loaded(id string) Loaded {
	if r.State != "ok" {
		return Loaded{ID: id, Status: sms.Status(r.Status)}
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	l := Loaded{
		ID: id, OK: true, Status: sms.Status(r.Status), To: r.To, Attempts: num(r.Attempts), Deadline: fromMS(r.Deadline),
		App: r.App, Type: sms.Type(r.Type), Content: r.Content, Sender: r.Sender, Placeholders: r.Placeholders,
		CappingDays: num(r.CapDays), CappingCount: num(r.CapCount), SendRate: num(r.SendRate),
		LastProvider: r.LastProvider, LastAmbiguous: r.Ambiguous == "1",
	}
	if r.InFlight != "" {
		// A worker died calling this provider (or its settle never reached
		// Redis): the provider may have the SMS, exactly as after a
		// timeout there.
		l.LastProvider, l.LastAmbiguous = r.InFlight, true
	}
	return l
}

// FrequencyWindow is how long marketing sends are remembered per device
// for frequency capping: the longest capping_days.
const FrequencyWindow = 30 * 24 * time.Hour

// scriptFrequency is the frequency cap of a marketing SMS, on the
// device's frequency set (the application's key, so its own step beside
// scriptBegin's, which is in the SMS's partition). This is the one piece
// of policy that stays in Lua (the rest is the worker's judge): the cap is
// a count that concurrent sends to one phone must not overshoot, so the
// check and the ZADD must be one atomic step. An SMS recorded already (a
// retry) passes; with capping, a device that had `capping count`
// marketing SMS within `capping days` makes it capped; otherwise it is
// recorded.
//
// KEYS[1] -> sf:fc:<app>:<phone>
// ARGV[1] -> now (unix ms)
// ARGV[2] -> capping days
// ARGV[3] -> capping count (0: no cap, record only)
// ARGV[4] -> SMS id
// ARGV[5] -> frequency window (ms)
//
// Returns "added", "had" (recorded before) or "capped".
var scriptFrequency = newScript("frequency", `
local now, days, count, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 'had' end
if count > 0 and redis.call('ZCOUNT', KEYS[1], now - days * 86400000, '+inf') >= count then return 'capped' end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 'added'
`)

// scriptBegin takes the SMS for sending: queued moves to sending; sending
// (a retry, or a crash mid-attempt) is taken again; the attempt is
// counted. An SMS scriptFrequency capped is suppressed (frequency_cap)
// instead.
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:m:<code>
// KEYS[3] -> sf:oc of the message's partition
// ARGV[1] -> now (unix ms)
// ARGV[2] -> SMS id
// ARGV[3] -> the provider the attempt goes to first ("" for none): in flight
// ARGV[4] -> "1" when the frequency cap refused it
//
// Returns JSON: {state="begun", a=attempts}, {state="capped"} or
// {state="refused", st=status}.
var scriptBegin = newScript("begin", `
local s = redis.call('HMGET', KEYS[1], F.st, F.a)
local st = s[1]
if st ~= 'queued' and st ~= 'sending' then return cjson.encode({state='refused', st=st or ''}) end
if ARGV[4] == '1' then
  moveFrom(st, KEYS[1], KEYS[2], KEYS[3], ARGV[2], 'suppressed', ARGV[1], F.rs, 'frequency_cap')
  return cjson.encode({state='capped'})
end
-- One HSET takes the SMS, counts the attempt and marks it in flight.
local a = tonumber(s[2] or '0') + 1
local set = {F.a, a}
if ARGV[3] ~= '' then set[3], set[4] = F.fl, ARGV[3] end
if st == 'queued' then
  moveFrom(st, KEYS[1], KEYS[2], KEYS[3], ARGV[2], 'sending', ARGV[1], unpack(set))
else
  redis.call('HSET', KEYS[1], unpack(set))
end
return cjson.encode({state='begun', a=a})
`)

// Began is what Begin did to one SMS.
type Began struct {
	// OK: the SMS is taken for sending and Attempts counts this attempt.
	OK       bool
	Attempts int
	// Capped: frequency capping suppressed it; it must not be sent.
	Capped bool
}

type beginResult struct {
	State    string `json:"state"`
	Attempts int    `json:"a"`
}

// Begin takes a loaded SMS for sending and counts the attempt (see
// scriptBegin). A marketing SMS with capping may come back capped: it is
// then suppressed with reason frequency_cap and must not be sent.
func (s *Store) Begin(ctx context.Context, id string, l Loaded) (attempts int, capped, ok bool, err error) {
	l.ID = id
	bs, err := s.BeginBatch(ctx, []Loaded{l})
	if err != nil {
		return 0, false, false, err
	}
	return bs[0].Attempts, bs[0].Capped, bs[0].OK, nil
}

// BeginBatch begins many loaded SMS (Loaded.ID): one pipelined round trip,
// two when a marketing SMS has capping (its cap decides how it begins).
//
// A marketing SMS is recorded in the device's frequency set by
// scriptFrequency, a step of its own (the application's slot), before
// scriptBegin (the SMS's). A crash between the two leaves the SMS
// recorded and not begun: its task's retry finds it recorded ("had") and
// begins it; should it never be sent, it counts against the phone's cap
// for up to FrequencyWindow (one marketing SMS too many may be capped).
// An SMS recorded here that Begin then refuses (no longer queued or
// sending) is taken out of the set again.
func (s *Store) BeginBatch(ctx context.Context, ls []Loaded) ([]Began, error) {
	now := ms(s.now())
	freq := make([]*scriptCall, len(ls))
	var capFirst, together []*scriptCall
	for i, l := range ls {
		if l.Type != sms.Marketing {
			continue
		}
		freq[i] = newCall(scriptFrequency, []string{s.k.frequency(l.App, l.To)}, now, l.CappingDays, l.CappingCount, l.ID, FrequencyWindow.Milliseconds())
		if l.CappingCount > 0 {
			capFirst = append(capFirst, freq[i])
		} else {
			together = append(together, freq[i])
		}
	}
	if len(capFirst) > 0 {
		if err := s.runCalls(ctx, capFirst, false); err != nil {
			return nil, fmt.Errorf("begin: frequency caps: %w", err)
		}
	}
	begins := make([]*scriptCall, len(ls))
	for i, l := range ls {
		capped := "0"
		if f := freq[i]; f != nil && f.cmd != nil {
			res, err := f.cmd.Text()
			if err != nil {
				return nil, fmt.Errorf("begin sms %s: frequency cap: %w", l.ID, err)
			}
			if res == "capped" {
				capped = "1"
			}
		}
		begins[i] = newCall(scriptBegin, []string{s.k.sms(l.ID), s.k.msg(sms.MessageCodeOf(l.ID)), s.k.outcome(s.k.partitionOfID(l.ID))},
			now, l.ID, l.Attempting, capped)
	}
	if err := s.runCalls(ctx, append(begins, together...), false); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	out := make([]Began, len(ls))
	var forget []int
	for i, c := range begins {
		var res beginResult
		if err := decodeJSON(c.cmd.Val(), &res); err != nil {
			return nil, fmt.Errorf("begin sms %s: %w", ls[i].ID, err)
		}
		out[i] = Began{OK: res.State == "begun", Attempts: res.Attempts, Capped: res.State == "capped"}
		if f := freq[i]; res.State == "refused" && f != nil && f.cmd.Val() == "added" {
			forget = append(forget, i)
		}
	}
	s.forgetFrequencies(ctx, ls, forget)
	return out, nil
}

// forgetFrequencies takes the SMS ls[i] of forget out of their devices'
// frequency sets, best effort: Begin refused them after they were
// recorded (a leftover costs at most one capped SMS, see BeginBatch).
func (s *Store) forgetFrequencies(ctx context.Context, ls []Loaded, forget []int) {
	if len(forget) == 0 {
		return
	}
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range forget {
			p.ZRem(ctx, s.k.frequency(ls[i].App, ls[i].To), ls[i].ID)
		}
		return nil
	})
}

// Outcome is what a send attempt ended with.
type Outcome struct {
	Provider    string
	ProviderRef string
	Segments    int
	Encoding    string
	Error       string
	Operator    string
	// Cost is what the SMS cost in millionths of the fleet's currency
	// (segments × price), when Priced: a provider without a price for the
	// destination leaves it unknown.
	Cost   int64
	Priced bool
	// Attempts are the provider calls of this task run, appended to the
	// SMS's history in the same step.
	Attempts []Attempt
}

// MarkSent records that a provider accepted the SMS, and indexes its
// provider reference for receipts (sent.go). It reports whether the status
// moved.
func (s *Store) MarkSent(ctx context.Context, id string, o Outcome) (bool, error) {
	res, err := s.MarkSentBatch(ctx, []Sent{{ID: id, Outcome: o}})
	if err != nil {
		return false, err
	}
	return res[0].Moved, res[0].Err
}

// sentPairs are the fields a move to sent sets (MarkSent, MarkSentBatch).
func sentPairs(o Outcome) []any {
	pairs := []any{fProvider, o.Provider, fRef, o.ProviderRef, fSegments, o.Segments, fEncoding, o.Encoding, fError, "", fAmbiguous, "0", fOperator, o.Operator}
	if o.Priced {
		// scriptTransition adds it to the message's and the day's sums.
		pairs = append(pairs, fCost, o.Cost)
	}
	return pairs
}

// MarkFailed records a final failure: the provider's error, or a reason
// of smsfleet's own (too_long, ...).
func (s *Store) MarkFailed(ctx context.Context, id string, o Outcome) (bool, error) {
	return s.transition(ctx, id, sms.Failed, o.Attempts, fProvider, o.Provider, fError, sms.MaskPhonesIn(o.Error), fSegments, o.Segments, fEncoding, o.Encoding, fOperator, o.Operator)
}

// MarkSuppressed records that policy kept the SMS from being sent
// (no_consent, opted_out, frequency_cap, missing_tag).
func (s *Store) MarkSuppressed(ctx context.Context, id, reason string) (bool, error) {
	return s.transition(ctx, id, sms.Suppressed, nil, fReason, reason)
}

// MarkExpired records that the SMS was not handed to a provider before its
// deadline (its validity ran out), with why.
func (s *Store) MarkExpired(ctx context.Context, id, why string) (bool, error) {
	return s.transition(ctx, id, sms.Expired, nil, fError, why)
}

// ForgetFrequency removes a marketing SMS that never reached its phone from
// the device's frequency-capping window.
func (s *Store) ForgetFrequency(ctx context.Context, app, phone, id string) error {
	if err := s.rdb.ZRem(ctx, s.k.frequency(app, phone), id).Err(); err != nil {
		return fmt.Errorf("forget frequency: %w", err)
	}
	return nil
}

// scriptAttempt notes a failed attempt on an SMS that stays sending and
// will be retried: its last provider (a retry after an ambiguous failure
// goes back to it), its error and its history. The attempt is settled, so
// it is no longer in flight.
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:sa:<id>
// ARGV[1] -> now (unix ms)
// ARGV[2] -> provider
// ARGV[3] -> error
// ARGV[4] -> ambiguous (0/1)
// ARGV[5] -> history ttl (s)
// ARGV[6..] -> attempt records (JSON)
//
// Returns 1, or 0 when the SMS does not exist.
var scriptAttempt = newScript("attempt", `
if not redis.call('HGET', KEYS[1], F.st) then return 0 end
redis.call('HSET', KEYS[1], F.up, ARGV[1], F.p, ARGV[2], F.e, ARGV[3], F.amb, ARGV[4])
redis.call('HDEL', KEYS[1], F.fl)
if #ARGV >= 6 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 6)) end
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
`)

// RecordAttempts notes failed provider calls on an SMS that stays sending
// and will be retried: the last provider and whether its failure was
// ambiguous (the retry then goes back to it), the error, the history.
func (s *Store) RecordAttempts(ctx context.Context, id, provider, msg string, ambiguous bool, attempts []Attempt) error {
	amb := 0
	if ambiguous {
		amb = 1
	}
	args := append([]any{ms(s.now()), provider, sms.MaskPhonesIn(msg), amb, ttlSeconds(s.retention)}, attemptArgs(attempts)...)
	if err := scriptAttempt.Run(ctx, s.rdb, []string{s.k.sms(id), s.k.attempts(id)}, args...).Err(); err != nil {
		return fmt.Errorf("record attempts of %s: %w", id, err)
	}
	return nil
}

// Unbegin takes back the attempt Begin counted, for an SMS that no
// provider was called for: every breaker was open, or every provider
// throttled. Such waits must not use up the SMS's attempts.
func (s *Store) Unbegin(ctx context.Context, id string) error {
	// One key, one MULTI: the attempt and its in-flight mark go together.
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, s.k.sms(id), fAttempts, -1)
		p.HDel(ctx, s.k.sms(id), fInFlight)
		return nil
	})
	if err != nil {
		return fmt.Errorf("unbegin %s: %w", id, err)
	}
	return nil
}

// scriptPin moves an SMS's in-flight mark to the next provider of its
// pass, before that provider is called (failover after a clean failure).
//
// KEYS[1] -> sf:s:<id>
// ARGV[1] -> provider
//
// Returns 1, or 0 when the SMS is no longer sending (then nothing is set).
var scriptPin = newScript("pin", `
if redis.call('HGET', KEYS[1], F.st) ~= 'sending' then return 0 end
redis.call('HSET', KEYS[1], F.fl, ARGV[1])
return 1
`)

// Pin records that the attempt in flight now goes to provider: should the
// worker die during that call, the retry goes to provider alone.
func (s *Store) Pin(ctx context.Context, id, provider string) error {
	if err := scriptPin.Run(ctx, s.rdb, []string{s.k.sms(id)}, provider).Err(); err != nil {
		return fmt.Errorf("pin %s to %s: %w", id, provider, err)
	}
	return nil
}

// scriptTransition moves an SMS to a status and sets fields with the move.
// A move to sent counts the hourly "send" bucket and the message's total
// segments and starts the delivery wait; a move to delivered counts the
// hourly "delivery" bucket. A move to sent indexes the provider reference
// in a step of its own after this one (sent.go): the reference is in the
// partition of "prov:ref", which a receipt can find it by.
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:m:<code>
// KEYS[3] -> sf:sa:<id>
// KEYS[4] -> sf:oc of the message's partition
// KEYS[5] -> sf:dw of the message's partition
// KEYS[6] -> sf:cd:<day> of the message's partition (cost.go)
// ARGV[1] -> to status
// ARGV[2] -> now (unix ms)
// ARGV[3] -> hour (YYYYMMDDHH)
// ARGV[4] -> SMS id
// ARGV[5] -> ttl (s) of the history
// ARGV[6] -> segments
// ARGV[7] -> n, the number of field/value pairs
// ARGV[8..7+2n] -> field/value pairs set when the move happens
// ARGV[8+2n..] -> attempt records appended to the history
//
// Returns JSON {moved, prev}.
var scriptTransition = newScript("transition", `
local id, now = ARGV[4], ARGV[2]
local n = tonumber(ARGV[7])
local last = 7 + n * 2
local ok, cur = move(KEYS[1], KEYS[2], KEYS[4], id, ARGV[1], now, unpack(ARGV, 8, last))
if not ok then return cjson.encode({moved=false, prev=cur or ''}) end
-- Settled: no attempt is in flight any more.
redis.call('HDEL', KEYS[1], F.fl)
if ARGV[1] == 'sent' then
  redis.call('HINCRBY', KEYS[2], F.h .. 'send:' .. ARGV[3], 1)
  redis.call('HINCRBY', KEYS[2], F.segs, tonumber(ARGV[6]))
  -- Its cost (a pair above, when priced) joins the message's and the
  -- day's sums in the same step: they add up exactly.
  local cost = redis.call('HGET', KEYS[1], F.co)
  if cost then
    redis.call('HINCRBY', KEYS[2], F.co, cost)
    redis.call('HINCRBY', KEYS[6], redis.call('HGET', KEYS[2], F.app) or '', cost)
    redis.call('EXPIRE', KEYS[6], `+costDayTTLSeconds+`)
  end
  -- The delivery wait starts: still sent when it ends means unknown.
  local dw = tonumber(redis.call('HGET', KEYS[2], F.dw) or '0')
  if dw > 0 then redis.call('ZADD', KEYS[5], tonumber(now) + dw * 1000, id) end
elseif hourlyAction(ARGV[1]) then
  redis.call('HINCRBY', KEYS[2], F.h .. hourlyAction(ARGV[1]) .. ':' .. ARGV[3], 1)
end
if #ARGV > last then
  redis.call('RPUSH', KEYS[3], unpack(ARGV, last + 1))
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return cjson.encode({moved=true, prev=cur})
`)

// transitionCall is scriptTransition's call for one move (transition, and
// the batched writes of sent.go).
func (s *Store) transitionCall(id string, to sms.Status, segments int, attempts []Attempt, pairs ...any) *scriptCall {
	now := s.now()
	p := s.k.partitionOfID(id)
	keys := []string{s.k.sms(id), s.k.msg(sms.MessageCodeOf(id)), s.k.attempts(id), s.k.outcome(p), s.k.waits(p), s.k.costDay(p, now)}
	args := append([]any{string(to), ms(now), hourBucket(now), id, ttlSeconds(s.retention), segments, len(pairs) / 2}, pairs...)
	return newCall(scriptTransition, keys, append(args, attemptArgs(attempts)...)...)
}

type transitionResult struct {
	Moved bool   `json:"moved"`
	Prev  string `json:"prev"`
}

// transition moves SMS id to status to (see scriptTransition); not for
// sent, which MarkSent records with its reference.
func (s *Store) transition(ctx context.Context, id string, to sms.Status, attempts []Attempt, pairs ...any) (bool, error) {
	c := s.transitionCall(id, to, 0, attempts, pairs...)
	// Durable, as a sent write is (MarkSentBatch): a final state must not
	// be lost to a failover that keeps the task's completion.
	if err := s.runCalls(ctx, []*scriptCall{c}, true); err != nil && c.cmd == nil {
		return false, fmt.Errorf("sms %s to %s: %w", id, to, err)
	}
	raw, err := s.result(c)
	if err != nil {
		return false, fmt.Errorf("sms %s to %s: %w", id, to, err)
	}
	var res transitionResult
	if err := decodeJSON(raw, &res); err != nil {
		return false, fmt.Errorf("sms %s to %s: %w", id, to, err)
	}
	return res.Moved, nil
}

// scriptMaterialize creates the record of one recipient of a fanned-out
// message if it does not exist yet: queued, or canceled when the message
// was canceled meanwhile (with its canceled outcome event, in this same
// step: the cancel's sweep then finds it canceled and adds none). The
// scheduled counter moves to the new status.
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:m:<code>
// KEYS[3] -> sf:oc of the message's partition
// ARGV[1] -> phone
// ARGV[2] -> now (unix ms)
// ARGV[3] -> ttl (s)
// ARGV[4] -> deadline (unix ms)
// ARGV[5] -> message code
// ARGV[6] -> SMS id
//
// Returns the record's status.
var scriptMaterialize = newScript("materialize", `
local st = redis.call('HGET', KEYS[1], F.st)
if st then return st end
st = 'queued'
if redis.call('HGET', KEYS[2], F.canceled) == '1' then st = 'canceled' end
redis.call('HSET', KEYS[1], F.m, ARGV[5], F.to, ARGV[1], F.st, st, F.up, ARGV[2], F.dl, ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if st == 'canceled' then redis.call('XADD', KEYS[3], '*', 'id', ARGV[6], F.st, st, 'at', ARGV[2]) end
redis.call('HINCRBY', KEYS[2], F.c .. 'scheduled', -1)
redis.call('HINCRBY', KEYS[2], F.c .. st, 1)
return st
`)

// Materialize creates the records of phones (recipients of fanned-out
// message m, due by deadline) that do not have one yet, in one round trip,
// and returns each one's SMS id (in m's id scheme) and status: queued ones
// need a send task.
func (s *Store) Materialize(ctx context.Context, m Message, phones []string, deadline time.Time) (ids []string, statuses []sms.Status, err error) {
	code := m.Code
	ids, err = s.SMSIDs(ctx, m, phones)
	if err != nil {
		return nil, nil, fmt.Errorf("materialize %s: %w", code, err)
	}
	// The record holds the number: it lives the application's number
	// retention after the SMS can last settle (privacy.go).
	t := s.now()
	now, ttl, dl := ms(t), s.numberTTL(m.App, t, deadline, m.DeliveryWait, ttlSeconds(s.retention)), ms(deadline)
	oc := s.k.outcome(s.k.partitionOf(code))
	cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(phones))
		for i, ph := range phones {
			cmds[i] = scriptMaterialize.EvalSha(ctx, p, []string{s.k.sms(ids[i]), s.k.msg(code), oc}, ph, now, ttl, dl, code, ids[i])
		}
		return cmds
	})
	if err != nil {
		return nil, nil, fmt.Errorf("materialize %s: %w", code, err)
	}
	statuses = make([]sms.Status, len(cmds))
	for i, c := range cmds {
		st, err := c.Text()
		if err != nil {
			return nil, nil, fmt.Errorf("materialize %s: %w", code, err)
		}
		statuses[i] = sms.Status(st)
	}
	return ids, statuses, nil
}
