package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// A targeted message (conditions, or a broadcast: Message.Conditions) is
// created with one group and no recipients; its dispatch finds them when
// it goes out, walking the application's devices with SSCAN a page at a
// time (dispatcher/targeted.go). What it finds is committed here in the
// message's own chunks, full ones of ChunkSize (the last one excepted), so
// every reader of chunks (Recipients, CancelMessage, the fan-out) reads a
// targeted message as any other.
//
// Crash safety. Each commit writes, in one script on the message's slot:
// the chunk, its phones into sf:mt:<code> (the recipients committed so
// far), the counters (n, gn:<g>, c:scheduled) and the scan's progress: the
// chunk count and the SSCAN cursor to resume from. A dispatch that runs
// again re-materialises the committed chunks (idempotent, as every
// fan-out) and resumes the walk at the recorded cursor. The cursor may
// point at a page some of whose matches were committed already (a chunk
// boundary fell inside it) and SSCAN may return a device twice: the
// dispatch drops any phone already in sf:mt:<code> (Committed) before it
// counts towards a chunk, so no one is committed twice and no one is
// skipped. A commit names the chunk it writes; one whose chunk exists
// already (a second runner of the same dispatch) changes nothing.

// TargetScan is the progress of a targeted message's dispatch.
type TargetScan struct {
	// Cursor is the SSCAN cursor to resume the walk from.
	Cursor uint64
	// Chunks is how many chunks the walk has committed.
	Chunks int
	// Done is set once the walk has ended.
	Done bool
}

// targeted is the set of the recipients a targeted message's dispatch has
// committed (keys.go).
func (k *keyspace) targeted(code string) string { return pTargeted + k.ofCode(code) + code }

// TargetScanOf reads the progress of code's targeted dispatch.
func (s *Store) TargetScanOf(ctx context.Context, code string) (TargetScan, error) {
	vals, err := s.rdb.HMGet(ctx, s.k.msg(code), fScanCursor, fScanChunks, fScanDone).Result()
	if err != nil {
		return TargetScan{}, fmt.Errorf("targeted scan of %s: %w", code, err)
	}
	var p TargetScan
	if v, ok := vals[0].(string); ok {
		if p.Cursor, err = strconv.ParseUint(v, 10, 64); err != nil {
			return TargetScan{}, fmt.Errorf("targeted scan of %s: cursor %q: %w", code, v, err)
		}
	}
	if v, ok := vals[1].(string); ok {
		if p.Chunks, err = strconv.Atoi(v); err != nil {
			return TargetScan{}, fmt.Errorf("targeted scan of %s: chunks %q: %w", code, v, err)
		}
	}
	p.Done = vals[2] != nil
	return p, nil
}

// Committed reports, for each phone, whether code's targeted dispatch has
// committed it already.
func (s *Store) Committed(ctx context.Context, code string, phones []string) ([]bool, error) {
	if len(phones) == 0 {
		return nil, nil
	}
	members := make([]any, len(phones))
	for i, ph := range phones {
		members[i] = ph
	}
	got, err := s.rdb.SMIsMember(ctx, s.k.targeted(code), members...).Result()
	if err != nil {
		return nil, fmt.Errorf("targeted recipients of %s: %w", code, err)
	}
	return got, nil
}

// ErrTargetCommitted is CommitTargeted's answer when the chunk it was to
// write exists already: another run of the dispatch got there first.
var ErrTargetCommitted = errors.New("targeted chunk committed already")

// ErrTargetCanceled is CommitTargeted's answer for a canceled message:
// nothing more is committed.
var ErrTargetCanceled = errors.New("targeted message canceled")

// scriptTargetCommit commits one chunk of a targeted message's recipients
// and the scan's progress (see above).
//
// KEYS[1] -> sf:m:<code>
// KEYS[2] -> sf:mr:<code>:<chunk>
// KEYS[3] -> sf:mt:<code>
// ARGV[1] -> the chunk's number (the committed chunk count it expects)
// ARGV[2] -> the cursor to resume from
// ARGV[3] -> "1" when the walk has ended (the set is deleted)
// ARGV[4] -> group
// ARGV[5] -> the chunk: phones joined by "\n" ("" for none)
// ARGV[6] -> the number retention's TTL (s) of the chunk (privacy.go)
// ARGV[7..] -> the chunk's phones
//
// Returns "ok", "committed" (the chunk count is past ARGV[1]), "canceled"
// or "missing".
var scriptTargetCommit = newScript("target_commit", `
local h = redis.call('HMGET', KEYS[1], F.app, F.canceled, F.tch)
if not h[1] then return 'missing' end
if h[2] == '1' then return 'canceled' end
if tonumber(h[3] or '0') ~= tonumber(ARGV[1]) then return 'committed' end
-- The chunks and the set hold numbers: they expire with the message, or
-- sooner with the application's number retention.
local ttl = redis.call('TTL', KEYS[1])
if ttl < 1 then return redis.error_reply('message without a ttl') end
ttl = math.min(ttl, tonumber(ARGV[6]))
local n = #ARGV - 6
if n > 0 then
  redis.call('SET', KEYS[2], ARGV[5], 'EX', ttl)
  for i = 7, #ARGV, 500 do
    redis.call('SADD', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
  end
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('HINCRBY', KEYS[1], F.n, n)
  redis.call('HINCRBY', KEYS[1], F.gn .. ARGV[4], n)
  redis.call('HINCRBY', KEYS[1], F.c .. 'scheduled', n)
  redis.call('HINCRBY', KEYS[1], F.tch, 1)
end
redis.call('HSET', KEYS[1], F.tcur, ARGV[2])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], F.tdn, '1')
  redis.call('DEL', KEYS[3])
end
return 'ok'
`)

// CommitTargeted commits phones (none already committed, at most
// ChunkSize) as chunk number chunk of group g of targeted message m,
// with the cursor a later run resumes from; done ends the walk. A chunk
// committed already is ErrTargetCommitted, a canceled message
// ErrTargetCanceled, both with nothing written.
func (s *Store) CommitTargeted(ctx context.Context, m Message, g, chunk int, phones []string, resume uint64, done bool) error {
	code := m.Code
	keys := []string{s.k.msg(code), s.k.chunkPrefix(code) + strconv.Itoa(chunk), s.k.targeted(code)}
	fin := "0"
	if done {
		fin = "1"
	}
	now := s.now()
	numTTL := s.numberTTL(m.App, now, m.Deadline(g), m.DeliveryWait, ttlSeconds(s.retention))
	args := make([]any, 0, 6+len(phones))
	args = append(args, chunk, strconv.FormatUint(resume, 10), fin, g, joinChunk(phones), numTTL)
	for _, ph := range phones {
		args = append(args, ph)
	}
	r, err := scriptTargetCommit.Run(ctx, s.rdb, keys, args...).Text()
	if err != nil {
		return fmt.Errorf("commit targeted chunk %d of %s: %w", chunk, code, err)
	}
	switch r {
	case "missing":
		return fmt.Errorf("commit targeted chunk %d of %s: %w", chunk, code, ErrNotFound)
	case "canceled":
		return ErrTargetCanceled
	case "committed":
		return ErrTargetCommitted
	}
	return nil
}

// NothingToSend reports whether m has no SMS left to send and no
// recipients still to find: no recipients and no targeting (whose
// dispatch finds them), or canceled. Its outbox entry needs no task.
func (m Message) NothingToSend() bool {
	return m.Canceled || (m.Recipients == 0 && m.Conditions == "")
}
