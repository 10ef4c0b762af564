package provider

import (
	"context"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
)

// Where the parts of a long MO wait for each other (see smpp_mo.go).
//
// Each part is acknowledged only once held; the whole is handed on
// (OnReply) when the last part comes, and forgotten only once handed on.
// A handing on that fails releases the whole: the SMSC, answered with a
// temporary error, delivers the last part again, which completes it
// again. A copy of a part that was held already is a duplicate:
// acknowledged, nothing more.

// MOPartStore holds long-MO parts durably; internal/store implements it
// over Redis (moparts.go), so the parts survive a restart and the parts
// of one message may arrive on the binds of different workers.
type MOPartStore interface {
	AddMOPart(ctx context.Context, p store.MOPart) (store.MOPartResult, error)
	FinishMO(ctx context.Context, k store.MOKey, ttl time.Duration) error
	ReleaseMO(ctx context.Context, k store.MOKey) error
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

func (h *moStoreHolder) key(part moPart) store.MOKey {
	return store.MOKey{Provider: h.prov, From: part.from, To: part.to, Ref: part.ref, Ref16: part.ref16}
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
	res, err := h.st.AddMOPart(ctx, store.MOPart{MOKey: h.key(part), Seq: part.seq, Total: part.total, Coding: moCoding(part),
		Data: part.text, TTL: h.cfg.Timeout, Lease: h.lease})
	if err != nil {
		return moPart{}, moNotStored, err
	}
	switch res.State {
	case store.MOWaiting:
		return moPart{}, moWaiting, nil
	case store.MODuplicate, store.MOHandedOn:
		return moPart{}, moDuplicate, nil
	case store.MOBusy:
		return moPart{}, moBusy, nil
	case store.MOMismatch:
		return moPart{}, moCodingMismatch, nil
	}
	whole := moPart{from: part.from, to: part.to, coding: part.coding, known: part.known}
	for _, p := range res.Parts {
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
