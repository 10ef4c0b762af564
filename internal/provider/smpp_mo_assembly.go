package provider

import (
	"context"
	"sync"
	"time"
)

// Reassembly of long MO in memory (see smpp_mo.go), for a client without
// a MOPartStore (SMPPConfig.MOParts; the fleet always gives it Redis).
//
// gosmpp reads a concatenation UDH (pdu.UDH.GetConcatInfo, 8-bit only)
// but keeps no parts: its own example holds them in an unbounded map.
// This is that, bounded: parts are held per (from, to, reference), at
// most MaxPending messages at once (a new one beyond that drops the
// oldest), at most MaxParts parts a message (a message declaring more is
// refused), and for at most Timeout from its first part (then it is
// dropped, incomplete). Every drop is counted in smsfleet_smpp_mo_total,
// since each is a reply that never reached the fleet. Parts are held in
// memory only: a process that stops loses the incomplete messages it
// held, whose parts it acknowledged once held; that is why the fleet
// holds them in Redis (smpp_mo_parts.go). A complete message is kept
// until handed on, then as a marker that makes later copies of its parts
// duplicates, until its timeout.

// MOConfig bounds the reassembly of long MO.
type MOConfig struct {
	// MaxPending is the most incomplete messages held at once; 0 means
	// 1000.
	MaxPending int
	// MaxParts is the most parts a message may have; 0 means 16 (a
	// 2,448-character GSM reply, far beyond what phones send).
	MaxParts int
	// Timeout is how long a message's parts are waited for, from its
	// first part; 0 means 10 minutes.
	Timeout time.Duration
}

// Defaults of MOConfig.
const (
	MODefaultMaxPending = 1000
	MODefaultMaxParts   = 16
	MODefaultTimeout    = 10 * time.Minute
)

func (c MOConfig) withDefaults() MOConfig {
	if c.MaxPending <= 0 {
		c.MaxPending = MODefaultMaxPending
	}
	if c.MaxParts <= 0 {
		c.MaxParts = MODefaultMaxParts
	}
	if c.Timeout <= 0 {
		c.Timeout = MODefaultTimeout
	}
	return c
}

// moResult is what became of an MO PDU (a label of smsfleet_smpp_mo_total).
type moResult int

const (
	moPassed moResult = iota
	moWaiting
	moComplete
	moDuplicate
	moTooManyParts
	moCodingMismatch
	moIncomplete
	moEvicted
	moNoHandler
	moBusy      // complete, being handed on by another bind: delivered again later
	moNotStored // the parts store failed: delivered again later
	moNotLanded // OnReply failed: delivered again later
)

func (r moResult) String() string {
	switch r {
	case moWaiting:
		return "part"
	case moComplete:
		return "part" // the last part: passMO then counts the message
	case moDuplicate:
		return "duplicate_part"
	case moTooManyParts:
		return "too_many_parts"
	case moCodingMismatch:
		return "malformed"
	case moIncomplete:
		return "incomplete_dropped"
	case moEvicted:
		return "evicted"
	case moNoHandler:
		return "no_handler"
	case moBusy:
		return "busy"
	case moNotStored:
		return "not_stored"
	case moNotLanded:
		return "not_landed"
	}
	return "passed"
}

// moKey names one long message: its reference is the sender's, so it is
// unique only per sender and recipient.
type moKey struct {
	from, to string
	ref      uint16
	ref16    bool
}

// moSet is the parts of one long message received so far.
type moSet struct {
	parts  [][]byte // by seq-1; nil until received
	got    int
	coding byte
	known  bool
	first  time.Time // the first part's arrival: the timeout runs from it
	done   bool      // handed on: only a marker against late copies
}

// moAssembler holds incomplete long MO. It is safe for concurrent use:
// parts come on the session's reading goroutine, sweeps from Run's.
type moAssembler struct {
	cfg MOConfig
	// drop counts dropped messages by result (incomplete, evicted).
	drop func(moResult)

	mu   sync.Mutex
	sets map[moKey]*moSet
}

func newMOAssembler(cfg MOConfig, drop func(moResult)) *moAssembler {
	return &moAssembler{cfg: cfg.withDefaults(), drop: drop, sets: make(map[moKey]*moSet)}
}

// add files part (total > 1) at now and returns the whole message once
// its last part came (res moComplete), its text the parts' user data in
// order, undecoded: a character may straddle two parts. The message is
// kept until handedOn, so a copy of a part after a failed handing on
// completes it again.
func (a *moAssembler) add(_ context.Context, part moPart, now time.Time) (whole moPart, res moResult, err error) {
	if part.total > a.cfg.MaxParts {
		return moPart{}, moTooManyParts, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked(now)
	key := moKeyOf(part)
	set, ok := a.sets[key]
	if ok && set.done {
		return moPart{}, moDuplicate, nil
	}
	if ok && len(set.parts) != part.total {
		// The reference was reused for a new message (8 bits wrap fast)
		// while an old one sat incomplete: the old one will not complete.
		delete(a.sets, key)
		a.drop(moIncomplete)
		ok = false
	}
	if !ok {
		if len(a.sets) >= a.cfg.MaxPending {
			a.evictOldestLocked()
		}
		set = &moSet{parts: make([][]byte, part.total), coding: part.coding, known: part.known, first: now}
		a.sets[key] = set
	}
	if set.coding != part.coding || set.known != part.known {
		return moPart{}, moCodingMismatch, nil
	}
	res = moWaiting
	if set.parts[part.seq-1] != nil {
		res = moDuplicate
	} else {
		// A copy: the PDU's buffer is not ours to keep.
		set.parts[part.seq-1] = append(make([]byte, 0, len(part.text)+1), part.text...)
		set.got++
	}
	if set.got < part.total {
		return moPart{}, res, nil
	}
	var text []byte
	for _, p := range set.parts {
		text = append(text, p...)
	}
	return moPart{from: part.from, to: part.to, coding: set.coding, known: set.known, text: text}, moComplete, nil
}

func moKeyOf(part moPart) moKey {
	return moKey{from: part.from, to: part.to, ref: part.ref, ref16: part.ref16}
}

// handedOn keeps only a marker of part's message, until its timeout.
func (a *moAssembler) handedOn(_ context.Context, part moPart) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if set, ok := a.sets[moKeyOf(part)]; ok {
		set.parts, set.done = nil, true
	}
	return nil
}

// release keeps the complete message as it is: the next copy of a part
// completes it again.
func (a *moAssembler) release(context.Context, moPart) {}

// sweep drops the messages whose parts stopped coming before now-Timeout.
func (a *moAssembler) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked(now)
}

func (a *moAssembler) sweepLocked(now time.Time) {
	for k, set := range a.sets {
		if now.Sub(set.first) >= a.cfg.Timeout {
			delete(a.sets, k)
			if !set.done {
				a.drop(moIncomplete)
			}
		}
	}
}

func (a *moAssembler) evictOldestLocked() {
	var (
		oldest moKey
		at     time.Time
		found  bool
	)
	for k, set := range a.sets {
		if !found || set.first.Before(at) {
			oldest, at, found = k, set.first, true
		}
	}
	if found {
		done := a.sets[oldest].done
		delete(a.sets, oldest)
		if !done {
			a.drop(moEvicted)
		}
	}
}

// pending is how many messages are held, not yet handed on.
func (a *moAssembler) pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, set := range a.sets {
		if !set.done {
			n++
		}
	}
	return n
}

// sweepMO drops timed-out incomplete MO every so often until ctx is done
// or the client is closed, so one that nothing follows is still dropped
// (and counted) near its time; add sweeps too, on every part.
func (s *SMPP) sweepMO(ctx context.Context) {
	every := max(min(s.mo.cfg.Timeout/2, time.Minute), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
			s.mo.sweep(s.now())
		}
	}
}
