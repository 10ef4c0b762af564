package store

import "context"

// CancelDyingAfterGroup is CancelMessage dying after it canceled the
// recipients of group g only: the crash midway a retried cancel, or the
// group's dispatch task, must finish.
func CancelDyingAfterGroup(ctx context.Context, s *Store, m Message, g int) error {
	if _, err := s.markCanceled(ctx, m.Code); err != nil {
		return err
	}
	var out CancelResult
	return s.cancelGroup(ctx, m, g, ms(s.now()), &out)
}
