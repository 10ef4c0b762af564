package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// ErrUnknownRef is returned by ApplyReceipt for a reference no SMS has (yet).
var ErrUnknownRef = errors.New("unknown provider reference")

// ApplyReceipt moves the SMS a provider reference names to delivered or
// undelivered (with the provider's error code). It reports whether the
// status moved; a receipt for an SMS already final moves nothing.
func (s *Store) ApplyReceipt(ctx context.Context, provider, ref string, to sms.Status, code string) (bool, error) {
	res, err := s.ApplyReceipts(ctx, []sms.Receipt{{Provider: provider, Ref: ref, Status: to, ErrorCode: code}}, 0)
	if err != nil {
		return false, err
	}
	switch res[0] {
	case ReceiptUnknown:
		return false, ErrUnknownRef
	case ReceiptApplied:
		return true, nil
	}
	return false, nil
}

// ReceiptResult says what applying one receipt did.
type ReceiptResult int

const (
	ReceiptApplied   ReceiptResult = iota // the SMS moved
	ReceiptDuplicate                      // the SMS was already there or beyond: a replay moves nothing
	ReceiptUnknown                        // no SMS has the reference (yet): parked when parkTTL > 0
)

// parkedMember names a parked receipt in sf:pz.
func parkedMember(prov, ref string) string { return prov + ":" + ref }

// scriptReceipt applies a delivery receipt to the SMS its provider
// reference names (the caller read the reference first: it is in another
// partition, see sent.go). A reference is set once, by the SMS's sent
// write, so what the caller read still holds.
//
// KEYS[1] -> sf:s:<id>
// KEYS[2] -> sf:m:<code>
// KEYS[3] -> sf:oc of the message's partition
// ARGV[1] -> SMS id the reference named
// ARGV[2] -> to status (delivered/undelivered)
// ARGV[3] -> now (unix ms)
// ARGV[4] -> hour (YYYYMMDDHH)
// ARGV[5] -> the provider's error code ("" for none)
//
// Returns "applied" or "duplicate" (the SMS was already there or beyond,
// or is not sent yet: no move allowed).
var scriptReceipt = newScript("receipt", `
local dlr = {}
if ARGV[5] ~= '' then dlr = {F.dlr, ARGV[5]} end
if not move(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], unpack(dlr)) then return 'duplicate' end
redis.call('HINCRBY', KEYS[2], F.h .. hourlyAction(ARGV[2]) .. ':' .. ARGV[4], 1)
return 'applied'
`)

// receiptCall is scriptReceipt's call for a receipt of SMS id.
func (s *Store) receiptCall(id string, to sms.Status, code string, now time.Time) *scriptCall {
	return newCall(scriptReceipt, []string{s.k.sms(id), s.k.msg(sms.MessageCodeOf(id)), s.k.outcome(s.k.partitionOfID(id))},
		id, string(to), ms(now), hourBucket(now), code)
}

// scriptPark parks a receipt whose reference no SMS has yet (it raced the
// sent write), unless one is parked already; the sent write applies it.
// The key outlives its window, so the sweeper, not Redis, gives it up and
// counts it; sf:pz says when the window ends.
//
// KEYS[1] -> sf:ref:<prov>:<ref>
// KEYS[2] -> sf:park:<prov>:<ref>
// KEYS[3] -> sf:pz of the partition of "prov:ref" (the partition of all three)
// ARGV[1] -> to status
// ARGV[2] -> the provider's error code
// ARGV[3] -> now (unix ms)
// ARGV[4] -> park window (s)
// ARGV[5] -> parked member ("prov:ref")
//
// Returns "known" when the reference exists after all (apply it), else
// "parked".
var scriptPark = newScript("park", `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'known' end
local ttl = tonumber(ARGV[4])
if redis.call('SET', KEYS[2], ARGV[1] .. '|' .. ARGV[2], 'EX', ttl * 2 + 60, 'NX') then
  redis.call('ZADD', KEYS[3], tonumber(ARGV[3]) + ttl * 1000, ARGV[5])
end
return 'parked'
`)

// ApplyReceipts applies a batch of receipts: the references are read in
// one pipelined round trip, then every receipt is applied (or parked) in
// another. A receipt whose reference is not known yet is parked for
// parkTTL (0: not parked): the sent write applies it when it comes.
func (s *Store) ApplyReceipts(ctx context.Context, rs []sms.Receipt, parkTTL time.Duration) ([]ReceiptResult, error) {
	out := make([]ReceiptResult, len(rs))
	todo := make([]int, len(rs))
	for i := range rs {
		todo[i] = i
	}
	// A reference changes at most once (unknown, then set by the sent
	// write), so two passes settle every receipt but a pathological one.
	for pass := 0; len(todo) > 0; pass++ {
		if pass == 3 {
			return nil, fmt.Errorf("apply receipt %s/%s: its reference keeps changing", rs[todo[0]].Provider, rs[todo[0]].Ref)
		}
		ids, err := s.lookupRefs(ctx, rs, todo)
		if err != nil {
			return nil, err
		}
		now := s.now()
		cmds := make([]*scriptCall, len(todo))
		var calls []*scriptCall
		for j, i := range todo {
			r := rs[i]
			switch {
			case ids[j] != "":
				cmds[j] = s.receiptCall(ids[j], r.Status, r.ErrorCode, now)
			case parkTTL > 0:
				m := parkedMember(r.Provider, r.Ref)
				cmds[j] = newCall(scriptPark, []string{s.k.ref(r.Provider, r.Ref), s.k.park(r.Provider, r.Ref), s.k.parked(s.k.partitionOf(m))},
					string(r.Status), r.ErrorCode, ms(now), ttlSeconds(parkTTL), m)
			default:
				continue
			}
			calls = append(calls, cmds[j])
		}
		if err := s.runCalls(ctx, calls, false); err != nil && anyUnrun(calls) {
			return nil, fmt.Errorf("apply receipts: %w", err)
		}
		var again []int
		for j, i := range todo {
			if cmds[j] == nil {
				out[i] = ReceiptUnknown
				continue
			}
			res, err := cmds[j].cmd.Text()
			if err != nil {
				return nil, fmt.Errorf("apply receipt %s/%s: %w", rs[i].Provider, rs[i].Ref, err)
			}
			switch res {
			case "applied":
				out[i] = ReceiptApplied
			case "duplicate":
				out[i] = ReceiptDuplicate
			case "parked":
				out[i] = ReceiptUnknown
			default: // known: the reference was set meanwhile
				again = append(again, i)
			}
		}
		todo = again
	}
	return out, nil
}

// lookupRefs reads the SMS id of each receipt's reference ("" unknown) in
// one pipelined round trip.
func (s *Store) lookupRefs(ctx context.Context, rs []sms.Receipt, todo []int) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(todo))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range todo {
			cmds[j] = p.Get(ctx, s.k.ref(rs[i].Provider, rs[i].Ref))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("apply receipts: look up references: %w", err)
	}
	ids := make([]string, len(todo))
	for j, c := range cmds {
		ids[j] = c.Val()
	}
	return ids, nil
}
