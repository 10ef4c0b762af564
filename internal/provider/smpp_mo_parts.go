package provider

import (
	"context"
	"strconv"
	"time"
)

// Where the parts of a long MO wait for each other (see smpp_mo.go).
//
// Each part is acknowledged only once held; the whole is handed on
// (OnReply) when the last part comes, and forgotten only once handed on.
// A handing on that fails releases the whole: the SMSC, answered with a
// temporary error, delivers the last part again, which completes it
// again. A copy of a part that was held already is a duplicate:
// acknowledged, nothing more.

// MOPartStore holds long-MO parts durably: the fleet adapts
// internal/store's (moparts.go, over Redis) to it, so the parts survive a
// restart and the parts of one message may arrive on the binds of
// different workers. (provider cannot import store: store's tests reach
// provider through config.)
type MOPartStore interface {
	// AddMOPart files part Seq of Total of k's message, waited for TTL
	// from its first part, and answers its state ("waiting",
	// "duplicate", "complete" with every part's data in order, "busy"
	// while another caller hands it on, "handed_on", "mismatch"): see
	// store.MOState. A complete message is the caller's for lease.
	AddMOPart(ctx context.Context, k MOPartKey, seq, total int, coding string, data []byte, ttl, lease time.Duration) (state string, parts [][]byte, err error)
	// FinishMO marks k's message handed on, for ttl.
	FinishMO(ctx context.Context, k MOPartKey, ttl time.Duration) error
	// ReleaseMO gives up the lease on k's complete message.
	ReleaseMO(ctx context.Context, k MOPartKey) error
}

// MOPartKey names one long MO: provider, sender, recipient and the
// sender's reference (8 or 16 bits).
type MOPartKey struct {
	Provider, From, To string
	Ref                uint16
	Ref16              bool
}

// moHolder holds parts: the Redis one (moStoreHolder) or, without a
// store, this process's memory (moAssembler).
type moHolder interface {
	// add files part (total > 1); with moComplete, whole is the message:
	// the parts' user data in order, undecoded (a character may straddle
	// two parts).
	add(ctx context.Context, part moPart, now time.Time) (whole moPart, res moResult, err error)
	// handedOn forgets a complete message that was handed on (or refused
	// for good): later copies of its parts are duplicates.
	handedOn(ctx context.Context, part moPart) error
	// release keeps a complete message whose handing on failed, for the
	// next copy of a part to complete again.
	release(ctx context.Context, part moPart)
}

// moStoreHolder is a moHolder over a MOPartStore.
type moStoreHolder struct {
	st    MOPartStore
	prov  string
	cfg   MOConfig
	lease time.Duration // the most one landing may take
}

func (h *moStoreHolder) key(part moPart) MOPartKey {
	return MOPartKey{Provider: h.prov, From: part.from, To: part.to, Ref: part.ref, Ref16: part.ref16}
}

// moCoding names a part's data_coding, and whether gosmpp knew it.
func moCoding(part moPart) string {
	c := strconv.Itoa(int(part.coding))
	if !part.known {
		c += "?"
	}
	return c
}

func (h *moStoreHolder) add(ctx context.Context, part moPart, _ time.Time) (moPart, moResult, error) {
	state, parts, err := h.st.AddMOPart(ctx, h.key(part), part.seq, part.total, moCoding(part), part.text, h.cfg.Timeout, h.lease)
	if err != nil {
		return moPart{}, moNotStored, err
	}
	switch state {
	case "complete":
	case "duplicate", "handed_on":
		return moPart{}, moDuplicate, nil
	case "busy":
		return moPart{}, moBusy, nil
	case "mismatch":
		return moPart{}, moCodingMismatch, nil
	default:
		return moPart{}, moWaiting, nil
	}
	whole := moPart{from: part.from, to: part.to, coding: part.coding, known: part.known}
	for _, p := range parts {
		whole.text = append(whole.text, p...)
	}
	return whole, moComplete, nil
}

func (h *moStoreHolder) handedOn(ctx context.Context, part moPart) error {
	return h.st.FinishMO(ctx, h.key(part), h.cfg.Timeout)
}

func (h *moStoreHolder) release(ctx context.Context, part moPart) {
	// Best effort: a lease not released runs out by itself.
	_ = h.st.ReleaseMO(ctx, h.key(part))
}
