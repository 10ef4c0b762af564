package dispatcher

// SetFlushHook runs f at the start of each group-commit flush of e.
func SetFlushHook(e *Enqueuer, f func()) { e.flushHook = f }

// PendingSends is how many direct sends wait for e's next flush.
func PendingSends(e *Enqueuer) int { return e.group.Pending() }
