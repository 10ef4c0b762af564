package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/targeting"
)

// A targeted message (createMessage with conditions, or a broadcast) has
// its recipients found here, when its dispatch runs at its send time: the
// request only validated and stored the conditions, so a device registered
// or re-tagged before the send counts, and the request does not scan the
// application's devices inside its deadline. The walk is streamed: one
// SSCAN page of devices and at most one chunk of matches are in memory at
// once, whatever the application's size. Each full chunk of matches is
// committed (store.CommitTargeted: the chunk, the counters and the walk's
// progress in one script) and then materialised and enqueued exactly as a
// chunk written by the intake is. Why a re-run after a crash at any point
// sends each match once and skips none is in internal/store/targeted.go;
// in short: committed chunks are re-materialised idempotently, the walk
// resumes at its recorded cursor, and a phone committed before is dropped
// before it counts towards a chunk.

// fanoutTargeted fans out group g of targeted message m.
func (f *Fanout) fanoutTargeted(ctx context.Context, m store.Message, g int) error {
	t, err := targeting.Decode(m.Conditions)
	if err != nil {
		// A stored value this version cannot read would target the wrong
		// people: the dispatch stops here rather than guess.
		return fmt.Errorf("dispatch %s: %v: %w", m.Code, err, asynq.SkipRetry)
	}
	prog, err := f.Store.TargetScanOf(ctx, m.Code)
	if err != nil {
		return err
	}
	w := &targetWalk{f: f, m: m, g: g, t: t, deadline: m.Deadline(g), chunk: prog.Chunks, buffered: map[string]bool{}}
	// Chunks an earlier run committed: their records and tasks may be
	// missing if it died after the commit.
	for c := range prog.Chunks {
		if err := w.fanChunk(ctx, c); err != nil {
			return err
		}
	}
	if !prog.Done {
		err := f.Store.ScanDevicesFrom(ctx, m.App, t.Tags(), prog.Cursor, func(page []store.DeviceFields, at, next uint64) error {
			return w.page(ctx, page, at, next)
		})
		switch {
		case errors.Is(err, store.ErrTargetCanceled):
			f.Log.Info("targeted dispatch stopped: message canceled", zap.String("message", m.Code), zap.Int("group", g))
		case err != nil:
			return fmt.Errorf("dispatch %s: %w", m.Code, err)
		}
	}
	if err := f.Store.FinishFanout(ctx, m.Code, g); err != nil {
		return err
	}
	if after, err := f.Store.GetMessage(ctx, "", m.Code); err == nil {
		metrics.FanoutSize.Observe(float64(after.Groups[g].Recipients))
	}
	f.Log.Info("targeted message dispatched", zap.String("message", m.Code), zap.Int("group", g), zap.Int("chunks", w.chunk),
		zap.Int("resumed_chunks", prog.Chunks), zap.Int("enqueued", w.enqueued), zap.String("lane", m.Type.Lane()))
	return nil
}

// targetWalk is one run of a targeted dispatch's walk over the devices.
type targetWalk struct {
	f        *Fanout
	m        store.Message
	g        int
	t        targeting.Targeting
	deadline time.Time
	// chunk is the number of the next chunk to commit (the chunks
	// committed so far, by this run and earlier ones).
	chunk int
	// buf holds matches not committed yet, in the order found, each with
	// the cursor of the page it came from; buffered is the same phones.
	buf      []pendingMatch
	buffered map[string]bool
	enqueued int
}

// pendingMatch is a matching device not committed yet.
type pendingMatch struct {
	phone string
	at    uint64 // the cursor of the SSCAN page it came from
}

// page takes one SSCAN page (read at cursor at; next is where the walk
// goes on, 0 after the last page): its matches not committed before join
// the buffer, every full chunk of it is committed and fanned out, and the
// last page commits the rest and ends the walk.
func (w *targetWalk) page(ctx context.Context, page []store.DeviceFields, at, next uint64) error {
	var matches []string
	for _, d := range page {
		if !w.buffered[d.Phone] && w.t.Match(targeting.Device{Phone: d.Phone, Language: d.Language, Tags: d.Tags}) {
			matches = append(matches, d.Phone)
		}
	}
	done, err := w.f.Store.Committed(ctx, w.m.Code, matches)
	if err != nil {
		return err
	}
	for i, ph := range matches {
		if !done[i] && !w.buffered[ph] {
			w.buf = append(w.buf, pendingMatch{phone: ph, at: at})
			w.buffered[ph] = true
		}
	}
	size := max(w.m.ChunkSize, 1)
	for len(w.buf) >= size && !(next == 0 && len(w.buf) == size) {
		// The walk resumes at the page of the first match left in the
		// buffer, or after this page when none is.
		resume := next
		if len(w.buf) > size {
			resume = w.buf[size].at
		}
		if err := w.commit(ctx, size, resume, false); err != nil {
			return err
		}
	}
	if next == 0 {
		return w.commit(ctx, len(w.buf), 0, true)
	}
	return nil
}

// commit commits the first n buffered matches as the next chunk (none: the
// walk's end alone), then materialises and enqueues them.
func (w *targetWalk) commit(ctx context.Context, n int, resume uint64, end bool) error {
	phones := make([]string, n)
	for i, p := range w.buf[:n] {
		phones[i] = p.phone
		delete(w.buffered, p.phone)
	}
	if err := w.f.Store.CommitTargeted(ctx, w.m, w.g, w.chunk, phones, resume, end); err != nil {
		return err
	}
	w.buf = append(w.buf[:0], w.buf[n:]...)
	if n == 0 {
		return nil
	}
	c := w.chunk
	w.chunk++
	return w.fanChunk(ctx, c)
}

// fanChunk materialises chunk c of the group and enqueues its queued SMS,
// as the fan-out of a message written with its recipients does
// (Fanout.ProcessTask).
func (w *targetWalk) fanChunk(ctx context.Context, c int) error {
	m := w.m
	phones, err := w.f.Store.RecipientChunk(ctx, m.Code, m.Groups[w.g].FirstChunk+c)
	if err != nil {
		return err
	}
	smsIDs, statuses, err := w.f.Store.Materialize(ctx, m, phones, w.deadline)
	if err != nil {
		return err
	}
	ts, n := w.f.sendTasks(m, w.g, c, smsIDs, phones, statuses)
	if err := w.f.enqueueAll(ctx, ts); err != nil {
		return fmt.Errorf("dispatch %s chunk %d: %w", m.Code, c, err)
	}
	w.enqueued += n
	return nil
}
