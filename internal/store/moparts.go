package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Parts of long SMPP mobile-originated messages (MO), held in Redis until
// the last one comes (sf:mo:{...}, one hash per message; see
// internal/provider/smpp_mo_parts.go).
//
// An SMPP connection acknowledges each part (deliver_sm_resp) only once it
// is stored here, so a process that stops between two parts loses
// nothing: the parts it acknowledged are in Redis, those it did not are
// delivered again by the SMSC, to this process or to another worker bound
// to the same SMSC. The last part to arrive completes the message: the
// caller gets every part, hands the whole on (to Kafka) and then calls
// FinishMO, which replaces the parts by a "handed on" marker that turns
// late copies of any part into duplicates. Between completion and
// FinishMO the message is leased to one caller, so two copies of the last
// part racing on two connections hand it on once; a caller whose handing
// on failed calls ReleaseMO (or lets the lease run out) and the SMSC's
// redelivery of the part completes it again.
//
// Each operation is one script on one key, so it is atomic and Redis
// Cluster-safe whatever the key's slot; the key still carries a hash tag
// (the message's identity, in braces) so that it keeps one slot should
// a companion key ever be added. The scripts are not registered with
// newScript: they name no status field and no key but KEYS[1].

// MOKey names one long MO: its reference is the sender's, unique only per
// provider, sender and recipient, and 8-bit and 16-bit references are
// different references.
type MOKey struct {
	Provider, From, To string
	Ref                uint16
	Ref16              bool
}

func (k MOKey) key() string {
	width := "8"
	if k.Ref16 {
		width = "16"
	}
	return pMOParts + "{" + k.Provider + ":" + k.From + ":" + k.To + ":" + width + ":" + strconv.Itoa(int(k.Ref)) + "}"
}

// MOPart is one part to file.
type MOPart struct {
	MOKey
	// Seq is the part's number, 1..Total.
	Seq, Total int
	// Coding tells the parts' text encodings apart: every part of a
	// message must carry the same one.
	Coding string
	// Data is the part's user data, without its header.
	Data []byte
	// TTL is how long the parts are waited for, from the first one (and
	// how long the "handed on" marker is kept); Lease is how long a
	// completed message is the completer's alone to hand on.
	TTL, Lease time.Duration
}

// MOState is what filing a part did.
type MOState string

// The states AddMOPart reports.
const (
	// MOWaiting: stored; parts are still missing.
	MOWaiting MOState = "waiting"
	// MODuplicate: this part was stored already; parts are still missing.
	MODuplicate MOState = "duplicate"
	// MOComplete: every part is here and the message is the caller's to
	// hand on (Parts), then FinishMO or ReleaseMO.
	MOComplete MOState = "complete"
	// MOBusy: complete, but leased to another caller handing it on now.
	MOBusy MOState = "busy"
	// MOHandedOn: the message was handed on already; this is a late copy.
	MOHandedOn MOState = "handed_on"
	// MOMismatch: the part's coding differs from its message's other
	// parts: refused, nothing stored.
	MOMismatch MOState = "mismatch"
)

// MOPartResult is AddMOPart's answer.
type MOPartResult struct {
	State MOState
	// Parts is the user data of every part in order, with MOComplete.
	Parts [][]byte
	// Restarted is true when an incomplete message with the same key but
	// another number of parts was dropped: the sender reused its
	// reference (8 bits wrap fast) and the old message will never
	// complete.
	Restarted bool
}

// scriptMOAdd files part ARGV[1] of ARGV[2] (coding ARGV[3], data ARGV[4])
// in KEYS[1], which expires ARGV[5] ms after its first part; ARGV[6] is
// now and ARGV[7] the lease (ms). It answers {state, restarted, parts...}.
var scriptMOAdd = redis.NewScript(`
local k = KEYS[1]
if redis.call('HEXISTS', k, 'done') == 1 then return {'handed_on', 0} end
local restarted = 0
local n = redis.call('HGET', k, 'n')
if n and n ~= ARGV[2] then
  redis.call('DEL', k)
  n = false
  restarted = 1
end
if not n then
  redis.call('HSET', k, 'n', ARGV[2], 'c', ARGV[3], 'g', 0)
  redis.call('PEXPIRE', k, ARGV[5])
elseif redis.call('HGET', k, 'c') ~= ARGV[3] then
  return {'mismatch', restarted}
end
local state = 'waiting'
if redis.call('HSETNX', k, 'p:' .. ARGV[1], ARGV[4]) == 1 then
  redis.call('HINCRBY', k, 'g', 1)
else
  state = 'duplicate'
end
local total = tonumber(ARGV[2])
if tonumber(redis.call('HGET', k, 'g')) < total then return {state, restarted} end
local now = tonumber(ARGV[6])
local lease = redis.call('HGET', k, 'lk')
if lease and tonumber(lease) > now then return {'busy', restarted} end
redis.call('HSET', k, 'lk', now + tonumber(ARGV[7]))
local out = {'complete', restarted}
for i = 1, total do out[#out + 1] = redis.call('HGET', k, 'p:' .. i) end
return out
`)

// scriptMOFinish replaces the parts in KEYS[1] by the "handed on" marker,
// kept ARGV[1] ms.
var scriptMOFinish = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'done', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// AddMOPart files p and says what that did (see MOState).
func (s *Store) AddMOPart(ctx context.Context, p MOPart) (MOPartResult, error) {
	if p.Seq < 1 || p.Seq > p.Total || p.TTL <= 0 || p.Lease <= 0 {
		return MOPartResult{}, fmt.Errorf("MO part %d of %d (ttl %s, lease %s): out of range", p.Seq, p.Total, p.TTL, p.Lease)
	}
	raw, err := scriptMOAdd.Run(ctx, s.rdb, []string{p.key()}, p.Seq, p.Total, p.Coding, p.Data,
		p.TTL.Milliseconds(), ms(s.now()), p.Lease.Milliseconds()).Slice()
	if err != nil {
		return MOPartResult{}, fmt.Errorf("storing MO part %d of %d from provider %s: %w", p.Seq, p.Total, p.Provider, err)
	}
	if len(raw) < 2 {
		return MOPartResult{}, fmt.Errorf("storing MO part: unexpected answer %v", raw)
	}
	state, _ := raw[0].(string)
	restarted, _ := raw[1].(int64)
	res := MOPartResult{State: MOState(state), Restarted: restarted == 1}
	if res.State == MOComplete {
		for _, v := range raw[2:] {
			part, ok := v.(string)
			if !ok {
				return MOPartResult{}, fmt.Errorf("storing MO part: a part of the complete message is missing")
			}
			res.Parts = append(res.Parts, []byte(part))
		}
	}
	return res, nil
}

// FinishMO marks k's message as handed on, for ttl: its parts are
// deleted, and a late copy of any of them is a duplicate (MOHandedOn).
func (s *Store) FinishMO(ctx context.Context, k MOKey, ttl time.Duration) error {
	if err := scriptMOFinish.Run(ctx, s.rdb, []string{k.key()}, ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("marking MO from provider %s handed on: %w", k.Provider, err)
	}
	return nil
}

// ReleaseMO gives up the lease on k's complete message, whose handing on
// failed: the next copy of any of its parts completes it again.
func (s *Store) ReleaseMO(ctx context.Context, k MOKey) error {
	if err := s.rdb.HDel(ctx, k.key(), "lk").Err(); err != nil {
		return fmt.Errorf("releasing MO from provider %s: %w", k.Provider, err)
	}
	return nil
}
