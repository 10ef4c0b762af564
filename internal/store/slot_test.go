package store

import (
	"context"
	"testing"
)

// TestKeySlotMatchesRedis holds keySlot to what a real cluster-enabled
// redis-server answers for CLUSTER KEYSLOT (a node answers it before it
// joins a cluster).
func TestKeySlotMatchesRedis(t *testing.T) {
	n := startClusterNode(t)
	rdb := newPlainClient(t, n.Addr)
	for _, key := range []string{
		"", "a", "123456789", "sf:outbox", "sf:m:AAAA-00000000-00000001",
		"sf:d:{SHOP1-00001}:+4915100000001", "sf:ds:{SHOP1-00001}",
		"{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "}{", "{a", "a}b{c}",
		"sf:s:{7-123}:AAAA-00000000-00000001.0f3c", "\xff\x00{\x80}",
	} {
		want, err := rdb.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := keySlot(key); int64(got) != want {
			t.Errorf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", key, got, want)
		}
	}
}
