// Package groupcommit runs one flush for many concurrent callers without
// a timer (docs/decisions.md#21): a caller that finds no flush in flight
// flushes at once, alone, so a lone caller waits for nothing; callers that
// arrive while a flush is in flight wait for it to end, and the first of
// them then flushes all of them together. The more concurrent the callers,
// the larger the groups, and no caller waits longer than the flush in
// flight plus its own.
package groupcommit

import "sync"

// Group gathers items for Flush. The zero value needs Flush set before use.
type Group[T any] struct {
	// Flush handles a group of items; it reports each one's result through
	// the item itself. It runs in the goroutine of one of the group's
	// callers, one flush at a time.
	Flush func(items []T)

	mu       sync.Mutex
	pending  []*waiter[T]
	flushing bool
}

type waiter[T any] struct {
	item T
	done chan struct{} // closed: a flush handled the item
	lead chan struct{} // closed: this caller flushes next
}

// Do adds item to the next flush and returns once a flush has handled it.
func (g *Group[T]) Do(item T) {
	w := &waiter[T]{item: item, done: make(chan struct{}), lead: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if g.flushing {
		g.mu.Unlock()
		select {
		case <-w.done:
			return
		case <-w.lead:
		}
		g.mu.Lock()
	} else {
		g.flushing = true
	}
	batch := g.pending
	g.pending = nil
	g.mu.Unlock()

	items := make([]T, len(batch))
	for i, b := range batch {
		items[i] = b.item
	}
	g.Flush(items)
	for _, b := range batch {
		close(b.done)
	}
	// Hand the lead to the first caller that arrived during this flush.
	g.mu.Lock()
	if len(g.pending) > 0 {
		close(g.pending[0].lead)
	} else {
		g.flushing = false
	}
	g.mu.Unlock()
}

// Pending is how many items wait for the next flush (tests).
func (g *Group[T]) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}
