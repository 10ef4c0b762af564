package traffic

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Fields returns the state's fields that start with prefix (prefix cut
// off) and the state's version, in one read: other parts of the operator
// state (internal/guard's "g:{app}" guard overrides) live in the same
// hash, so they share its version, its audit log and its change script
// (Apply), and every pod that polls the version sees them change.
func (s *Store) Fields(ctx context.Context, prefix string) (map[string]string, int64, error) {
	h, err := s.rdb.HGetAll(ctx, keyState).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("traffic: read state: %w", err)
	}
	out := map[string]string{}
	var v int64
	for f, val := range h {
		if f == "v" {
			v, _ = strconv.ParseInt(val, 10, 64)
			continue
		}
		if rest, ok := strings.CutPrefix(f, prefix); ok {
			out[rest] = val
		}
	}
	return out, v, nil
}
