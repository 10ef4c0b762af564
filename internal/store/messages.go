package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Message is one createMessage notification and what became of it.
type Message struct {
	App  string
	Code string
	Type sms.Type
	// Content is the notification's text as JSON: a string, or an object of
	// language code to text. Templates are rendered per recipient.
	Content string
	// Placeholders is dynamic_content_placeholders as a JSON object ("" for
	// none).
	Placeholders  string
	Sender        string
	CreatedAt     time.Time
	SendAt        time.Time // the earliest group's send time
	Timezone      string
	TransactionID string
	Validity      time.Duration
	// DeliveryWait is how long a sent SMS waits for its receipt before it
	// becomes unknown (0: forever).
	DeliveryWait time.Duration
	CappingDays  int
	CappingCount int
	// StatusCallback is where each SMS's outcome is POSTed ("" for none).
	StatusCallback string
	Recipients     int
	ChunkSize      int
	// Direct is a single recipient sent now: its SMS record is written with
	// the message and its send task is enqueued straight onto the lane.
	Direct bool
	// To is the one recipient of a direct message.
	To string
	// IDScheme is how the message's SMS ids are derived, recorded at
	// creation (CreateMessage sets it): sms.LegacyIDs for a message created
	// before keyed ids. Store.SMSIDs derives ids with it.
	IDScheme sms.IDScheme
	// Conditions is a targeted message's tag conditions (targeting.Encode;
	// a broadcast's too): its one group's recipients are found by its
	// dispatch, when it goes out (targeted.go). "" for a message sent to
	// the recipients it was created with.
	Conditions string
	// SendRate is the message's send_rate: at most this many of its SMS
	// leave per second, fleet-wide (0: no limit of its own).
	SendRate int
	// ReplayPending is set by CreateMessage on a transactionId replay whose
	// first write's enqueue was never confirmed (it is in the outbox): the
	// caller enqueues it now rather than leaving it to the outbox sweep.
	ReplayPending bool
	// KeywordAnswer: the message answers a phone's keyword reply (HELP,
	// STOP or START confirmation, issue 17). The phone's opt-outs do not
	// suppress it: a STOP confirmation answers the STOP that opted it out
	// (carriers require it), and is sent once, to that phone only.
	KeywordAnswer bool
	// Redact removes the text once the SMS are settled; TextGone says it
	// was removed: TextRedacted or TextExpired (privacy.go).
	Redact   bool
	TextGone string
	Canceled bool
	// Groups are the message's time zone groups, each with its own send time
	// and dispatch task: one group unless ignore_user_timezone is false.
	Groups   []Group
	Segments int64
	// Cost is the sum of its priced SMS's costs (millionths of the
	// currency); Priced says whether any SMS had a price (cost.go).
	Cost   int64
	Priced bool
	Counts map[sms.Status]int64
	// Hourly holds counts by action ("send", ...) and UTC hour (YYYYMMDDHH).
	Hourly map[string]map[string]int64
}

// Group is a slice of a message's recipients due at one instant: everyone
// whose local time reaches send_date then.
type Group struct {
	Zone       string
	SendAt     time.Time
	Recipients int
	FirstChunk int
	// Fanout is "" (not started), "started", "done" or "canceled".
	Fanout string
}

// Audience is one group's recipients, as CreateMessage takes them.
type Audience struct {
	Zone   string
	SendAt time.Time
	Phones []string
}

// Pending reports how many SMS of the message can still be canceled.
func (m Message) Pending() int64 { return m.Counts[sms.Scheduled] + m.Counts[sms.Queued] }

// Chunks is how many recipient chunks group g has.
func (m Message) Chunks(g int) int {
	return (m.Groups[g].Recipients + m.ChunkSize - 1) / m.ChunkSize
}

// Deadline is when an SMS of group g (or of a direct message, g = 0) stops
// being worth sending.
func (m Message) Deadline(g int) time.Time {
	at := m.SendAt
	if g < len(m.Groups) {
		at = m.Groups[g].SendAt
	}
	return at.Add(m.Validity)
}

// msgListScore is the lowest score an entry of sf:ml:<app> due at t has
// (see scriptCreateMessage).
func msgListScore(t time.Time) int64 { return ms(t) * 1000 }

// GetMessage loads a message of app ("" for any). Another application's
// message is ErrNotFound.
func (s *Store) GetMessage(ctx context.Context, app, code string) (Message, error) {
	h, err := s.rdb.HGetAll(ctx, s.k.msg(code)).Result()
	if err != nil {
		return Message{}, fmt.Errorf("get message: %w", err)
	}
	if len(h) == 0 || (app != "" && h[fApp] != app) {
		return Message{}, ErrNotFound
	}
	return parseMessage(code, h), nil
}

func parseMessage(code string, h map[string]string) Message {
	atoi := func(k string) int { n, _ := strconv.Atoi(h[k]); return n }
	m := Message{
		App: h[fApp], Code: code, Type: sms.Type(h[fType]), Content: h[fContent], Placeholders: h[fPlaceholders], Sender: h[fSender],
		CreatedAt: fromMS(h[fCreatedAt]), SendAt: fromMS(h[fSendAt]), Timezone: h[fMsgTimezone], TransactionID: h[fTxn],
		Validity: time.Duration(atoi(fValidity)) * time.Second, DeliveryWait: time.Duration(atoi(fDeliveryWait)) * time.Second, CappingDays: atoi(fCapDays), CappingCount: atoi(fCapCount), StatusCallback: h[fCallback],
		Recipients: atoi(fRecipients), ChunkSize: atoi(fChunkSize), Direct: h[fDirect] == "1", To: h[fTo], Canceled: h[fCanceled] == "1", IDScheme: sms.IDScheme(h[fIDScheme]),
		Conditions: h[fConditions], SendRate: atoi(fSendRate), KeywordAnswer: h[fKeywordAnswer] == "1",
		Redact: h[fRedact] == "1", TextGone: h[fTextGone],
		Counts: map[sms.Status]int64{}, Hourly: map[string]map[string]int64{},
	}
	m.Segments, _ = strconv.ParseInt(h[fSegs], 10, 64)
	if c, ok := h[fCost]; ok {
		m.Cost, _ = strconv.ParseInt(c, 10, 64)
		m.Priced = true
	}
	for i := range atoi(fGroups) {
		is := strconv.Itoa(i)
		m.Groups = append(m.Groups, Group{
			Zone: h[fGroupZone+is], SendAt: fromMS(h[fGroupSendAt+is]), Recipients: atoi(fGroupSize + is), FirstChunk: atoi(fGroupChunk + is), Fanout: h[fFanout+is],
		})
	}
	for k, v := range h {
		n, _ := strconv.ParseInt(v, 10, 64)
		if st, ok := strings.CutPrefix(k, fieldCount); ok {
			if n != 0 {
				m.Counts[sms.Status(st)] = n
			}
		} else if rest, ok := strings.CutPrefix(k, fHourly); ok {
			action, hour, _ := strings.Cut(rest, ":")
			if m.Hourly[action] == nil {
				m.Hourly[action] = map[string]int64{}
			}
			m.Hourly[action][hour] = n
		}
	}
	return m
}

// MessageCodeForTransaction returns the code stored for a transactionId.
func (s *Store) MessageCodeForTransaction(ctx context.Context, app, txn string) (string, error) {
	code, err := s.rdb.Get(ctx, s.k.txn(app, txn)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("transaction lookup: %w", err)
	}
	return code, nil
}

// ListMessages returns app's messages newest first, at most limit, starting
// after cursor (0 for the first page). next is 0 on the last page.
func (s *Store) ListMessages(ctx context.Context, app string, limit int, cursor int64) (msgs []Message, next int64, err error) {
	max := "+inf"
	if cursor > 0 {
		max = "(" + strconv.FormatInt(cursor, 10)
	}
	zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, s.k.msgList(app), &redis.ZRangeBy{Max: max, Min: "-inf", Count: int64(limit) + 1}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list messages: %w", err)
	}
	if len(zs) > limit {
		next = int64(zs[limit-1].Score)
		zs = zs[:limit]
	}
	cmds := make([]*redis.MapStringStringCmd, len(zs))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			cmds[i] = p.HGetAll(ctx, s.k.msg(z.Member.(string)))
		}
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("list messages: %w", err)
	}
	var expired []any
	cutoff := float64(msgListScore(s.now().Add(-s.retention)))
	for i, c := range cmds {
		code := zs[i].Member.(string)
		if len(c.Val()) == 0 {
			// Past retention: drop the stale index entry. A newer entry
			// without its message is skipped, not dropped: its message
			// may be between the two steps of its creation (create.go).
			if zs[i].Score < cutoff {
				expired = append(expired, code)
			}
			continue
		}
		msgs = append(msgs, parseMessage(code, c.Val()))
	}
	if len(expired) > 0 {
		s.rdb.ZRem(ctx, s.k.msgList(app), expired...)
	}
	return msgs, next, nil
}

// Recipients returns up to limit recipients of m from offset on, with their
// SMS records; a recipient whose record does not exist yet is reported
// scheduled (or canceled, when its group was canceled before its fan-out).
// next is -1 on the last page.
func (s *Store) Recipients(ctx context.Context, m Message, offset, limit int) (out []SMS, next int, err error) {
	if offset >= m.Recipients || limit <= 0 {
		return nil, -1, nil
	}
	end := min(offset+limit, m.Recipients)
	var phones []string
	var missing []sms.Status // the status of a recipient without a record
	if m.Direct {
		phones, missing = []string{m.To}, []sms.Status{sms.Queued}
	} else {
		start := 0 // index of the group's first recipient
		for _, g := range m.Groups {
			lo, hi := max(offset, start), min(end, start+g.Recipients)
			if lo < hi {
				got, err := s.groupRecipients(ctx, m, g, lo-start, hi-start)
				if err != nil {
					return nil, -1, err
				}
				st := sms.Scheduled
				if g.Fanout == "canceled" {
					st = sms.Canceled
				}
				phones = append(phones, got...)
				for range got {
					missing = append(missing, st)
				}
			}
			start += g.Recipients
		}
	}
	ids, err := s.SMSIDs(ctx, m, phones)
	if err != nil {
		return nil, -1, fmt.Errorf("recipients of %s: %w", m.Code, err)
	}
	recs, err := s.GetSMSBatch(ctx, ids)
	if err != nil {
		return nil, -1, err
	}
	for i, r := range recs {
		if r.ID == "" {
			r = SMS{ID: ids[i], Code: m.Code, To: phones[i], Status: missing[i]}
		}
		out = append(out, r)
	}
	next = end
	if end >= m.Recipients {
		next = -1
	}
	return out, next, nil
}

// groupRecipients returns recipients [lo, hi) of group g.
func (s *Store) groupRecipients(ctx context.Context, m Message, g Group, lo, hi int) ([]string, error) {
	first, last := lo/m.ChunkSize, (hi-1)/m.ChunkSize
	keys := make([]string, 0, last-first+1)
	for c := first; c <= last; c++ {
		keys = append(keys, s.k.chunkPrefix(m.Code)+strconv.Itoa(g.FirstChunk+c))
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	var phones []string
	for _, v := range vals {
		str, _ := v.(string)
		phones = append(phones, splitChunk(str)...)
	}
	base := first * m.ChunkSize
	return phones[min(lo-base, len(phones)):min(hi-base, len(phones))], nil
}

// RecipientChunk returns chunk i (counted across all groups) of a message.
func (s *Store) RecipientChunk(ctx context.Context, code string, i int) ([]string, error) {
	v, err := s.rdb.Get(ctx, s.k.chunkPrefix(code)+strconv.Itoa(i)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("recipient chunk %d of %s: %w", i, code, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("recipient chunk %d of %s: %w", i, code, err)
	}
	return splitChunk(v), nil
}

// scriptFanoutStart marks the fan-out of one time zone group as started
// unless a cancel got there first.
//
// KEYS[1] -> sf:m:<code>
// ARGV[1] -> group
//
// Returns "ok", "canceled" or "missing".
var scriptFanoutStart = newScript("fanout_start", `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local f = F.fo .. ARGV[1]
local fo = redis.call('HGET', KEYS[1], f)
if fo == false then return 'missing' end
if fo == 'canceled' then return 'canceled' end
if fo == '' then redis.call('HSET', KEYS[1], f, 'started') end
return 'ok'
`)

// StartFanout marks the fan-out of group g of code as started. It returns
// false when a cancel got there first (nothing to do) and ErrNotFound when
// the message or group does not exist.
func (s *Store) StartFanout(ctx context.Context, code string, g int) (bool, error) {
	r, err := scriptFanoutStart.Run(ctx, s.rdb, []string{s.k.msg(code)}, g).Text()
	if err != nil {
		return false, fmt.Errorf("start fan-out: %w", err)
	}
	switch r {
	case "missing":
		return false, ErrNotFound
	case "canceled":
		return false, nil
	}
	return true, nil
}

// FinishFanout records that every recipient of group g has a record.
func (s *Store) FinishFanout(ctx context.Context, code string, g int) error {
	if err := s.rdb.HSet(ctx, s.k.msg(code), fFanout+strconv.Itoa(g), "done").Err(); err != nil {
		return fmt.Errorf("finish fan-out: %w", err)
	}
	return nil
}

// ErrAlreadySent is returned by CancelMessage when nothing is left pending.
var ErrAlreadySent = errors.New("message already sent")

// CancelResult says what CancelMessage did.
type CancelResult struct {
	// Unstarted are the groups canceled before their fan-out: their dispatch
	// tasks are moot once the cancel succeeded.
	Unstarted []int
	// Swept counts records canceled one by one.
	Swept int64
}

// scriptCancel marks a message canceled if anything of it is still
// pending (a targeted message is, until its dispatch's scan ends). Every
// time zone group whose fan-out has not started is marked canceled, so
// its fan-out does nothing; the caller then cancels every recipient of
// every group one by one (scriptCancelSMS), creating the records the
// fan-out never made, so each canceled SMS has its record and its outcome
// event, appended in the same step as its move. The counters move with
// each recipient, not here: a cancel that dies midway leaves the rest
// scheduled, so the message is still pending and a retried cancel (or the
// group's dispatch task, which finds it canceled) sweeps them.
//
// KEYS[1] -> sf:m:<code>
// ARGV[1] -> now (unix ms)
//
// Returns JSON {pending=false} when nothing was pending, else
// {pending=true, started=[group...], canceled=[group...]}: the groups
// whose fan-out had started, and those canceled before it (by this call
// or an earlier one).
var scriptCancel = newScript("cancel", `
local h = redis.call('HMGET', KEYS[1], F.c .. 'scheduled', F.c .. 'queued', F.g, F.tc, F.tdn)
local sched, queued, groups = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
-- A targeted message whose scan has not ended may still find recipients.
local scanning = h[4] and not h[5]
if sched + queued <= 0 and not scanning then return cjson.encode({pending=false}) end
redis.call('HSET', KEYS[1], F.canceled, '1', F.canceled_at, ARGV[1])
local started, canceled = {}, {}
for i = 0, groups - 1 do
  local f = F.fo .. i
  local fo = redis.call('HGET', KEYS[1], f)
  if fo == '' then
    redis.call('HSET', KEYS[1], f, 'canceled')
    fo = 'canceled'
  end
  if fo == 'canceled' then table.insert(canceled, i) else table.insert(started, i) end
end
return cjson.encode({pending=true, started=started, canceled=canceled})
`)

// scriptCancelSMS cancels one recipient of a canceled message: a pending
// record moves to canceled, a missing one is created canceled (its fan-out
// had not reached it).
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:m:<code>
// KEYS[3] -> sf:oc of the message's partition
// ARGV[1] -> phone
// ARGV[2] -> now (unix ms)
// ARGV[3] -> ttl (s)
// ARGV[4] -> message code
// ARGV[5] -> SMS id
//
// Returns 1 when it canceled, else 0.
var scriptCancelSMS = newScript("cancel_sms", `
local st = redis.call('HGET', KEYS[1], F.st)
if not st then
  redis.call('HSET', KEYS[1], F.m, ARGV[4], F.to, ARGV[1], F.st, 'canceled', F.up, ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  -- Its outcome event, as move() appends one (lua.go).
  redis.call('XADD', KEYS[3], '*', 'id', ARGV[5], F.st, 'canceled', 'at', ARGV[2])
  redis.call('HINCRBY', KEYS[2], F.c .. 'scheduled', -1)
  redis.call('HINCRBY', KEYS[2], F.c .. 'canceled', 1)
  redactSettled(KEYS[2])
  return 1
end
if move(KEYS[1], KEYS[2], KEYS[3], ARGV[5], 'canceled', ARGV[2]) then return 1 end
return 0
`)

// CancelMessage cancels every SMS of m not yet handed to a provider. Each
// one canceled gets its record and its outcome event (scriptCancelSMS), so
// the time it takes grows with the recipients still scheduled, as a
// fan-out's does. Run again after a failure midway, it cancels the rest,
// and no SMS twice.
func (s *Store) CancelMessage(ctx context.Context, m Message) (CancelResult, error) {
	// A message whose ids this process cannot derive is refused before
	// anything is marked canceled.
	if _, err := s.SMSID(ctx, m, ""); err != nil {
		return CancelResult{}, fmt.Errorf("cancel message: %w", err)
	}
	unstarted, err := s.markCanceled(ctx, m.Code)
	if err != nil {
		return CancelResult{}, err
	}
	if m.Conditions != "" {
		// A targeted dispatch may have committed chunks since m was read,
		// and commits none after the mark (targeted.go): read them now.
		if m, err = s.GetMessage(ctx, m.App, m.Code); err != nil {
			return CancelResult{}, fmt.Errorf("cancel message: %w", err)
		}
	}
	out := CancelResult{Unstarted: unstarted}
	now := ms(s.now())
	if m.Direct {
		return out, s.cancelSMS(ctx, m, []string{m.To}, now, &out)
	}
	// Every group: in a started one records exist (or are being created),
	// in a canceled one none does yet; either way each recipient is
	// canceled one by one, its missing record created canceled.
	for g := range m.Groups {
		if err := s.cancelGroup(ctx, m, g, now, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// FinishCanceledGroup cancels the recipients of group g of message code
// that a cancel left scheduled (it died midway). The group's dispatch
// task calls it when it finds the group canceled: that task is deleted
// only after a cancel succeeded, so it is there to finish one that did
// not. It does nothing to what is canceled already.
func (s *Store) FinishCanceledGroup(ctx context.Context, code string, g int) (int64, error) {
	m, err := s.GetMessage(ctx, "", code)
	if err != nil {
		return 0, fmt.Errorf("finish cancel of %s: %w", code, err)
	}
	if g < 0 || g >= len(m.Groups) || m.Groups[g].Fanout != "canceled" || m.Counts[sms.Scheduled] <= 0 {
		return 0, nil // nothing of the group can be left scheduled
	}
	var out CancelResult
	err = s.cancelGroup(ctx, m, g, ms(s.now()), &out)
	return out.Swept, err
}

// cancelGroup cancels the recipients of group g of m, chunk by chunk.
func (s *Store) cancelGroup(ctx context.Context, m Message, g int, now int64, out *CancelResult) error {
	for c := 0; c < m.Chunks(g); c++ {
		phones, err := s.RecipientChunk(ctx, m.Code, m.Groups[g].FirstChunk+c)
		if err != nil {
			return err
		}
		if err := s.cancelSMS(ctx, m, phones, now, out); err != nil {
			return err
		}
	}
	return nil
}

// markCanceled marks the message canceled (scriptCancel) and returns the
// groups canceled before their fan-out; ErrAlreadySent when nothing was
// pending any more.
func (s *Store) markCanceled(ctx context.Context, code string) ([]int, error) {
	raw, err := scriptCancel.Run(ctx, s.rdb, []string{s.k.msg(code)}, ms(s.now())).Result()
	if err != nil {
		return nil, fmt.Errorf("cancel message: %w", err)
	}
	var res struct {
		Pending bool `json:"pending"`
		// cjson encodes an empty table as an object: take either.
		Canceled json.RawMessage `json:"canceled"`
	}
	if err := decodeJSON(raw, &res); err != nil {
		return nil, fmt.Errorf("cancel message: %w", err)
	}
	if !res.Pending {
		return nil, ErrAlreadySent
	}
	var groups []int
	if len(res.Canceled) > 0 && res.Canceled[0] == '[' {
		if err := json.Unmarshal(res.Canceled, &groups); err != nil {
			return nil, fmt.Errorf("cancel message: %w", err)
		}
	}
	return groups, nil
}

// cancelSMS cancels the SMS of m to phones in one pipelined round trip
// (scriptCancelSMS) at now (unix ms), counting in out those it moved.
func (s *Store) cancelSMS(ctx context.Context, m Message, phones []string, now int64, out *CancelResult) error {
	ids, err := s.SMSIDs(ctx, m, phones)
	if err != nil {
		return fmt.Errorf("cancel message: %w", err)
	}
	ttl := min(ttlSeconds(s.retention), ttlSeconds(s.retentions(m.App).Numbers)) // a canceled record holds its number (privacy.go)
	oc := s.k.outcome(s.k.partitionOf(m.Code))
	cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(phones))
		for i, ph := range phones {
			cmds[i] = scriptCancelSMS.EvalSha(ctx, p, []string{s.k.sms(ids[i]), s.k.msg(m.Code), oc}, ph, now, ttl, m.Code, ids[i])
		}
		return cmds
	})
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			out.Swept++
		}
	}
	return nil
}

// OutboxDue returns message codes of partition p (0 to Partitions()-1)
// written before cutoff whose enqueue was never confirmed (the intake
// crashed between writing and enqueueing).
func (s *Store) OutboxDue(ctx context.Context, p int, cutoff time.Time, limit int) ([]string, error) {
	codes, err := s.rdb.ZRangeByScore(ctx, s.k.outbox(p), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(cutoff), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return codes, nil
}

// OutboxDone clears a message's outbox entry once its task is enqueued.
func (s *Store) OutboxDone(ctx context.Context, code string) error {
	if err := s.rdb.ZRem(ctx, s.k.outbox(s.k.partitionOf(code)), code).Err(); err != nil {
		return fmt.Errorf("outbox done: %w", err)
	}
	return nil
}

// SaveStatsRequest remembers a getMsgStats request for an hour.
func (s *Store) SaveStatsRequest(ctx context.Context, id, app, code string) error {
	if err := s.rdb.Set(ctx, statsReqKey(id), app+"\n"+code, time.Hour).Err(); err != nil {
		return fmt.Errorf("save stats request: %w", err)
	}
	return nil
}

// StatsRequest returns the message code of app's getMsgStats request id.
func (s *Store) StatsRequest(ctx context.Context, app, id string) (string, error) {
	v, err := s.rdb.Get(ctx, statsReqKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("stats request: %w", err)
	}
	a, code, _ := strings.Cut(v, "\n")
	if a != app {
		return "", ErrNotFound
	}
	return code, nil
}

// scriptWaitEnded ends the delivery wait of one SMS: still sent, it moves
// to unknown ("the operator sent no receipt"); a late receipt still
// upgrades it.
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:m:<code>
// KEYS[3] -> sf:oc of the partition
// KEYS[4] -> sf:dw of the partition
// ARGV[1] -> SMS id
// ARGV[2] -> now (unix ms)
//
// Returns 1 when it moved, else 0.
var scriptWaitEnded = newScript("wait_ended", `
local moved = move(KEYS[1], KEYS[2], KEYS[3], ARGV[1], 'unknown', ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[1])
if moved then return 1 end
return 0
`)

// ExpireDeliveryWaits moves SMS of partition p whose delivery wait has
// ended while they were still sent to unknown, at most limit at a time. It returns how many
// moved and how many waits ended. Go reads the due ids and ends each wait
// with its own keys (one pipelined round trip for the batch), so no script
// touches a key it was not given.
func (s *Store) ExpireDeliveryWaits(ctx context.Context, part, limit int) (moved, ended int, err error) {
	now := ms(s.now())
	waits, oc := s.k.waits(part), s.k.outcome(part)
	due, err := s.rdb.ZRangeByScore(ctx, waits, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now, 10), Count: int64(limit)}).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("delivery waits: %w", err)
	}
	if len(due) == 0 {
		return 0, 0, nil
	}
	cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, 0, len(due))
		for _, id := range due {
			code := sms.MessageCodeOf(id)
			if code == "" { // not an SMS id: just drop it
				p.ZRem(ctx, waits, id)
				continue
			}
			cmds = append(cmds, scriptWaitEnded.EvalSha(ctx, p, []string{s.k.sms(id), s.k.msg(code), oc, waits}, id, now))
		}
		return cmds
	})
	if err != nil {
		return 0, 0, fmt.Errorf("delivery waits: %w", err)
	}
	for _, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			moved++
		}
	}
	return moved, len(due), nil
}
