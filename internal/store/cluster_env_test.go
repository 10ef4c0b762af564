package store

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// The package's tests on a real Redis Cluster use internal/testenv's
// (cluster-enabled redis-server processes joined by redis-cli --cluster
// create); these two helpers only shorten the calls.

// startCluster starts a cluster of masters without replicas, stopped at
// cleanup.
func startCluster(t testing.TB, masters int) *testenv.Cluster {
	t.Helper()
	return testenv.NewCluster(t, masters, 0)
}

// masterAddrs are the addresses of c's masters.
func masterAddrs(t testing.TB, c *testenv.Cluster) []string {
	t.Helper()
	ms, err := c.Masters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Addr
	}
	return out
}

func newPlainClient(t testing.TB, addr string) *redis.Client {
	c := testenv.NodeClient(addr)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
