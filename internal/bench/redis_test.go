package bench

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestRedisCostOverNodes: with two nodes (a cluster's masters), the cost
// is the sum of both nodes' commands and each node's own share is
// reported; with one node there is no per-node list.
func TestRedisCostOverNodes(t *testing.T) {
	ctx := context.Background()
	a, b := testenv.NewRedis(t), testenv.NewRedis(t)
	cases := []struct {
		name       string
		addrs      string
		incrs      map[string]int // INCRs sent to each node
		sms        int
		wantTotal  float64 // INCR calls per SMS over all nodes
		wantPerLen int
	}{
		{name: "one node", addrs: a.Addr, incrs: map[string]int{a.Addr: 40}, sms: 10, wantTotal: 4, wantPerLen: 0},
		{name: "two nodes", addrs: a.Addr + "," + b.Addr, incrs: map[string]int{a.Addr: 30, b.Addr: 10}, sms: 10, wantTotal: 4, wantPerLen: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := startRedis(ctx, tc.addrs)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.close()
			for addr, n := range tc.incrs {
				c := redis.NewClient(&redis.Options{Addr: addr})
				for range n {
					if err := c.Incr(ctx, "bench-test").Err(); err != nil {
						t.Fatal(err)
					}
				}
				_ = c.Close()
			}
			total, nodes, err := rc.finish(ctx, tc.sms)
			if err != nil {
				t.Fatal(err)
			}
			if got := callsOf(total, "incr"); got != tc.wantTotal {
				t.Fatalf("INCR per SMS over all nodes = %v, want %v (%+v)", got, tc.wantTotal, total)
			}
			if total.Addr != tc.addrs {
				t.Fatalf("total addr %q, want %q", total.Addr, tc.addrs)
			}
			if len(nodes) != tc.wantPerLen {
				t.Fatalf("%d node costs, want %d", len(nodes), tc.wantPerLen)
			}
			for _, n := range nodes {
				want := float64(tc.incrs[n.Addr]) / float64(tc.sms)
				if got := callsOf(n, "incr"); got != want {
					t.Fatalf("node %s: INCR per SMS %v, want %v", n.Addr, got, want)
				}
			}
		})
	}
	if _, err := startRedis(ctx, a.Addr+",127.0.0.1:1"); err == nil {
		t.Fatal("a node that does not answer was accepted")
	}
}

func callsOf(c RedisCost, name string) float64 {
	for _, t := range c.Top {
		if t.Name == name {
			return t.Calls
		}
	}
	return 0
}
