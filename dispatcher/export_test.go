package dispatcher

// SetFlushHook runs f at the start of each group-commit flush of e.
func SetFlushHook(e *Enqueuer, f func()) { e.group.hook = f }

// PendingSends is how many direct sends wait for e's next flush.
func PendingSends(e *Enqueuer) int {
	e.group.mu.Lock()
	defer e.group.mu.Unlock()
	return len(e.group.pending)
}
