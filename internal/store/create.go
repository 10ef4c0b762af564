package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Creating a message takes two steps, because its keys live in two hash
// slots (docs/decisions.md#22): the application's (its transactionId, its
// sequence, its message list) and the message's partition's (the message,
// its recipient chunks, a direct send's SMS record, the outbox).
//
//  1. scriptCreateApp: a transactionId seen before answers with its code
//     and writes nothing else; otherwise the message is listed and the
//     transactionId mapped to its code.
//  2. scriptCreateMessage, under the code step 1 answered: writes the
//     message unless it exists, and puts it in its partition's outbox.
//
// A crash between the two leaves a list entry (and a transactionId
// mapping) for a message that does not exist yet. Readers skip such an
// entry (ListMessages; GetMessage answers ErrNotFound); the client's retry
// with its transactionId gets the mapped code from step 1 and step 2
// creates the message under it, so the retry neither fails nor makes a
// second message. A retry without a transactionId makes a new message, as
// it always did; the orphan entry is trimmed with the list's old entries.
// The mapping lives no longer than the message (at most 24 h), so a
// mapping always names a message that exists or was never written.

// scriptCreateApp is a message's application step (see above). The list
// is scored by when the message is due (its last group's send time, or
// now) in ms times 1000, plus the per-application sequence modulo 1000 to
// keep equal milliseconds apart; entries due more than the retention ago
// index expired messages and are trimmed here, and the list and sequence
// keys expire with the longest-lived message they index
// (docs/decisions.md#18). A replay rewrites the transactionId key
// unchanged: on a standalone Redis that write makes a WAIT on the
// replay's connection cover the first write too (replication is in order).
//
// KEYS[1] -> sf:ml:<app>
// KEYS[2] -> sf:mseq:<app>
// KEYS[3] -> sf:tx:<app>:<txn>   (with a transactionId only)
// ARGV[1] -> code
// ARGV[2] -> the message's ttl (s)
// ARGV[3] -> the transactionId's ttl (s)
// ARGV[4] -> list score base: when the message is due (unix ms)
// ARGV[5] -> list trim cutoff: entries scored below it are dropped
//
// Returns JSON {created, code}: created is false for a transactionId seen
// before, whose code it returns.
var scriptCreateApp = newScript("create_app", `
if #KEYS >= 3 then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    redis.call('SET', KEYS[3], prev, 'KEEPTTL')
    return cjson.encode({created=false, code=prev})
  end
end
local ttl = tonumber(ARGV[2])
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], tonumber(ARGV[4]) * 1000 + seq % 1000, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5])
for _, k in ipairs({KEYS[1], KEYS[2]}) do
  if redis.call('TTL', k) < ttl then redis.call('EXPIRE', k, ttl) end
end
if #KEYS >= 3 then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[3]) end
return cjson.encode({created=true, code=ARGV[1]})
`)

// scriptCreateMessage is a message's partition step (see above): it
// writes the whole message atomically unless it exists. An existing one
// (the step ran for this code before: a replay of its transactionId) gets
// one field rewritten unchanged, so a WAIT after this step covers the
// first write too, and reports whether its enqueue is still unconfirmed
// (pending: the code is in the outbox), so the replay can enqueue it
// (docs/decisions.md#10).
//
// KEYS[1] -> sf:m:<code>
// KEYS[2] -> sf:outbox of the message's partition
// KEYS[3] -> sf:px of the message's partition (privacy.go)
// KEYS[ARGV[6]] -> sf:s:<id>           (a direct send, when ARGV[6] > 0)
// KEYS[ARGV[7]..] -> sf:mr:<code>:<i>  (the recipient chunks, in order)
// ARGV[1] -> code
// ARGV[2] -> ttl (s) of the message
// ARGV[3] -> now (unix ms)
// ARGV[4] -> m, the number of message field/value pairs
// ARGV[5] -> n, the number of SMS field/value pairs
// ARGV[6], ARGV[7] -> the KEYS indexes above (0: none)
// ARGV[8] -> ttl (s) of the keys holding numbers: the SMS record, the chunks
// ARGV[9], ARGV[10] -> when the text and a direct message's number field
// are due for removal (unix ms; 0: the message expires first), privacy.go
// ARGV[11..] -> m message pairs, n SMS pairs, then one value per chunk key
//
// Returns JSON {created, pending}.
var scriptCreateMessage = newScript("create_message", `
local app = redis.call('HGET', KEYS[1], F.app)
if app then
  redis.call('HSET', KEYS[1], F.app, app)
  return cjson.encode({created=false, pending=redis.call('ZSCORE', KEYS[2], ARGV[1]) ~= false})
end
local code, ttl, now = ARGV[1], ARGV[2], ARGV[3]
local nm, ns = tonumber(ARGV[4]), tonumber(ARGV[5])
local smsk, firstChunk, numTTL = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local i = 11
hsetFrom(KEYS[1], i, i + nm * 2 - 1)
redis.call('EXPIRE', KEYS[1], ttl)
i = i + nm * 2
if smsk > 0 then
  hsetFrom(KEYS[smsk], i, i + ns * 2 - 1)
  redis.call('EXPIRE', KEYS[smsk], numTTL)
end
i = i + ns * 2
local k = firstChunk
while i <= #ARGV do
  redis.call('SET', KEYS[k], ARGV[i], 'EX', numTTL)
  k = k + 1; i = i + 1
end
if ARGV[9] ~= '0' then redis.call('ZADD', KEYS[3], ARGV[9], 't:' .. code) end
if ARGV[10] ~= '0' then redis.call('ZADD', KEYS[3], ARGV[10], 'n:' .. code) end
redis.call('ZADD', KEYS[2], now, code)
return cjson.encode({created=true, pending=true})
`)

// CreateRequest is one message to write in a group (CreateMessages).
type CreateRequest struct {
	Message   *Message
	Audiences []Audience
}

// CreateResult is what CreateMessage would have returned for one message
// of a group.
type CreateResult struct {
	Code    string
	Created bool
	Err     error
}

// CreateMessage writes m with its audiences (E.164, deduplicated across
// all of them). A direct message has one audience of one phone. With a
// transactionId seen in the last 24 hours (and the message it named still
// kept) it writes nothing and returns the earlier code and created=false.
//
// The message records the fleet's current id scheme, and a direct send's
// record is written under its id in that scheme. On a replay m describes
// the request, not the stored message: read that with GetMessage.
func (s *Store) CreateMessage(ctx context.Context, m *Message, audiences []Audience) (code string, created bool, err error) {
	r := s.CreateMessages(ctx, []CreateRequest{{Message: m, Audiences: audiences}})[0]
	return r.Code, r.Created, r.Err
}

// CreateMessages writes many messages, each exactly as CreateMessage
// writes it (its own script runs, its own transactionId check, its own
// result and error), in one pipelined round trip per step. With
// WithReplicas a WAIT ends each step's pipeline on every connection that
// wrote (runCalls), so each message is acknowledged by the replicas as
// CreateMessage's would be, or gets ErrNotReplicated.
func (s *Store) CreateMessages(ctx context.Context, reqs []CreateRequest) []CreateResult {
	out := make([]CreateResult, len(reqs))
	plans := s.planCreates(ctx, reqs, out)
	if len(plans) == 0 {
		return out
	}
	// Step 1. On a standalone or Sentinel primary the WAIT after step 2
	// covers it (one replication stream, in order); a cluster's
	// application key may be on another master, which must WAIT itself.
	apps := make([]*scriptCall, len(plans))
	for i, p := range plans {
		apps[i] = s.appCall(p)
	}
	perr := s.runCalls(ctx, apps, s.clustered())
	var msgs []*scriptCall
	var next []*createPlan
	for i, p := range plans {
		if err := p.appResult(s, apps[i], perr); err != nil {
			out[p.i].Err = err
			continue
		}
		c, err := s.messageCall(p)
		if err != nil {
			out[p.i].Err = err
			continue
		}
		msgs, next = append(msgs, c), append(next, p)
	}
	// Step 2.
	perr = s.runCalls(ctx, msgs, true)
	for i, p := range next {
		out[p.i] = p.messageResult(s, msgs[i], perr)
	}
	return out
}

// clustered reports whether the store runs on a Redis Cluster.
func (s *Store) clustered() bool {
	_, ok := s.rdb.(*redis.ClusterClient)
	return ok
}

// createPlan is one message on its way through the two steps.
type createPlan struct {
	i         int // its request's index
	m         *Message
	audiences []Audience
	ids       sms.IDs
	now       time.Time
	latest    time.Time // the last group's send time
	ttl       int64     // the message's, in seconds
	// code is the code step 1 answered (the request's, or a replayed
	// transactionId's); appErr a *NotReplicatedError step 1 met, reported
	// with the result.
	code   string
	appErr error
}

// planCreates checks each request and fixes what both steps write; a
// request that cannot be written gets its error in out and no plan.
func (s *Store) planCreates(ctx context.Context, reqs []CreateRequest, out []CreateResult) []*createPlan {
	var plans []*createPlan
	for i, r := range reqs {
		p, err := s.planCreate(ctx, r.Message, r.Audiences)
		if err != nil {
			out[i].Err = err
			continue
		}
		p.i = i
		plans = append(plans, p)
	}
	return plans
}

func (s *Store) planCreate(ctx context.Context, m *Message, audiences []Audience) (*createPlan, error) {
	ids, err := s.idsNow(ctx)
	if err != nil {
		return nil, fmt.Errorf("create message: %w", err)
	}
	m.IDScheme = ids.Scheme()
	now := s.now()
	m.CreatedAt = now
	m.Recipients = 0
	for _, a := range audiences {
		m.Recipients += len(a.Phones)
	}
	latest := m.SendAt
	if m.Direct {
		if len(audiences) != 1 || len(audiences[0].Phones) != 1 {
			return nil, fmt.Errorf("create message: direct send needs exactly one recipient, got %d", m.Recipients)
		}
	} else {
		for _, a := range audiences {
			if a.SendAt.After(latest) {
				latest = a.SendAt
			}
		}
	}
	// Keep the message for the retention period after its last group is
	// due, however far ahead that is.
	ttl := ttlSeconds(s.retention + max(latest.Sub(now), 0))
	return &createPlan{m: m, audiences: audiences, ids: ids, now: now, latest: latest, ttl: ttl, code: m.Code}, nil
}

// appCall is step 1 of p.
func (s *Store) appCall(p *createPlan) *scriptCall {
	m := p.m
	keys := []string{s.k.msgList(m.App), s.k.msgSeq(m.App)}
	if m.TransactionID != "" {
		keys = append(keys, s.k.txn(m.App, m.TransactionID))
	}
	due := p.latest
	if p.now.After(due) {
		due = p.now
	}
	txnTTL := min(int64(24*time.Hour/time.Second), p.ttl)
	return newCall(scriptCreateApp, keys, m.Code, p.ttl, txnTTL, ms(due), msgListScore(p.now.Add(-s.retention)))
}

// appResult reads step 1's answer into p (its code); an error means step
// 2 must not run.
func (p *createPlan) appResult(s *Store, c *scriptCall, perr error) error {
	raw, err := s.result(c)
	if raw == nil {
		if err == nil {
			err = perr
		}
		return fmt.Errorf("create message: %w", err)
	}
	var res struct {
		Code string `json:"code"`
	}
	if derr := decodeJSON(raw, &res); derr != nil {
		return fmt.Errorf("create message: %w", derr)
	}
	p.code, p.appErr = res.Code, err
	return nil
}

// messageCall is step 2 of p, under the code step 1 answered.
func (s *Store) messageCall(p *createPlan) (*scriptCall, error) {
	m, code, now := p.m, p.code, p.now
	msgPairs := []any{
		fApp, m.App, fType, string(m.Type), fContent, m.Content,
		fCreatedAt, ms(now), fSendAt, ms(m.SendAt), fValidity, int64(m.Validity / time.Second), fDeliveryWait, int64(m.DeliveryWait / time.Second),
		fCapDays, m.CappingDays, fCapCount, m.CappingCount, fRecipients, m.Recipients, fChunkSize, m.ChunkSize,
		fIDScheme, string(m.IDScheme),
	}
	if m.SendRate > 0 {
		msgPairs = append(msgPairs, fSendRate, m.SendRate)
	}
	// Optional header fields are written only when set: every reader
	// (parseMessage, the load script) takes a missing one as "", so an
	// empty value would only cost the hash a field.
	for _, f := range [][2]string{{fPlaceholders, m.Placeholders}, {fSender, m.Sender}, {fMsgTimezone, m.Timezone}, {fTxn, m.TransactionID}, {fCallback, m.StatusCallback}, {fConditions, m.Conditions}} {
		if f[1] != "" {
			msgPairs = append(msgPairs, f[0], f[1])
		}
	}
	if m.KeywordAnswer {
		msgPairs = append(msgPairs, fKeywordAnswer, 1)
	}
	if m.Redact {
		msgPairs = append(msgPairs, fRedact, 1)
	}
	var smsPairs, chunks []any
	smsK := ""
	if m.Direct {
		m.To = p.audiences[0].Phones[0]
		msgPairs = append(msgPairs, fDirect, 1, fGroups, 0, fTo, m.To, fieldCount+string(sms.Queued), 1)
		id, err := p.ids.ID(code, m.To, m.IDScheme)
		if err != nil {
			return nil, fmt.Errorf("create message: %w", err)
		}
		smsK = s.k.sms(id)
		smsPairs = []any{fMsgCode, code, fTo, m.To, fStatus, string(sms.Queued), fUpdated, ms(now), fDeadline, ms(m.SendAt.Add(m.Validity))}
	} else {
		m.Groups = m.Groups[:0]
		msgPairs = append(msgPairs, fGroups, len(p.audiences))
		if m.Recipients > 0 {
			msgPairs = append(msgPairs, fieldCount+string(sms.Scheduled), m.Recipients)
		}
		for i, a := range p.audiences {
			g := Group{Zone: a.Zone, SendAt: a.SendAt, Recipients: len(a.Phones), FirstChunk: len(chunks)}
			m.Groups = append(m.Groups, g)
			is := strconv.Itoa(i)
			msgPairs = append(msgPairs, fGroupZone+is, a.Zone, fGroupSendAt+is, ms(a.SendAt), fGroupSize+is, len(a.Phones), fGroupChunk+is, g.FirstChunk, fFanout+is, "")
			for j := 0; j < len(a.Phones); j += m.ChunkSize {
				chunks = append(chunks, joinChunk(a.Phones[j:min(j+m.ChunkSize, len(a.Phones))]))
			}
		}
	}
	keys := []string{s.k.msg(code), s.k.outbox(s.k.partitionOf(code)), s.k.privacy(s.k.partitionOf(code))}
	smsIdx := 0
	if smsK != "" {
		keys = append(keys, smsK)
		smsIdx = len(keys)
	}
	firstChunk := len(keys) + 1
	for c := range chunks {
		keys = append(keys, s.k.chunkPrefix(code)+strconv.Itoa(c))
	}
	textDue, numberDue := s.privacyDue(m, now, p.latest, p.ttl)
	numTTL := s.numberTTL(m.App, now, p.latest.Add(m.Validity), m.DeliveryWait, p.ttl)
	args := []any{code, p.ttl, ms(now), len(msgPairs) / 2, len(smsPairs) / 2, smsIdx, firstChunk, numTTL, textDue, numberDue}
	args = append(args, msgPairs...)
	args = append(args, smsPairs...)
	args = append(args, chunks...)
	return newCall(scriptCreateMessage, keys, args...), nil
}

// messageResult is what CreateMessage returns for p after step 2.
func (p *createPlan) messageResult(s *Store, c *scriptCall, perr error) CreateResult {
	raw, err := s.result(c)
	if raw == nil {
		if err == nil {
			err = perr
		}
		return CreateResult{Err: fmt.Errorf("create message: %w", err)}
	}
	var res struct {
		Created bool `json:"created"`
		Pending bool `json:"pending"`
	}
	if derr := decodeJSON(raw, &res); derr != nil {
		return CreateResult{Err: fmt.Errorf("create message: %w", derr)}
	}
	p.m.ReplayPending = !res.Created && res.Pending
	if err == nil {
		err = p.appErr
	}
	if err != nil { // written on the primary, not acknowledged by enough replicas
		var nr *NotReplicatedError
		if !errors.As(err, &nr) {
			return CreateResult{Err: fmt.Errorf("create message: %w", err)}
		}
		return CreateResult{Code: p.code, Created: res.Created, Err: fmt.Errorf("create message %s: %w", p.code, err)}
	}
	return CreateResult{Code: p.code, Created: res.Created}
}
