package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis Cluster for this package's tests, from the binaries Debian's
// redis-server and redis-tools install: cluster-enabled redis-server
// processes joined by redis-cli --cluster create. (internal/testenv gets a
// shared starter with the lanes work; this one needs nothing from it.)

// clusterNode is one cluster-enabled redis-server.
type clusterNode struct {
	Addr string
	cmd  *exec.Cmd
}

// startClusterNode starts a cluster-enabled redis-server that has joined
// no cluster yet (it already answers CLUSTER KEYSLOT).
func startClusterNode(t testing.TB) *clusterNode {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (apt-get install -y redis-server): %v", err)
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 10; attempt++ {
		port := clusterPort(t)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
			"--cluster-node-timeout", "5000", "--daemonize", "no", "--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		n := &clusterNode{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
		if n.waitReady() == nil {
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			return n
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Fatal("no cluster-enabled redis-server came up in 10 attempts")
	return nil
}

// clusterPort picks a port that is free and whose cluster bus port
// (port + 10000) is free too.
func clusterPort(t testing.TB) int {
	for range 100 {
		p := 20000 + rand.IntN(20000)
		if portFree(p) && portFree(p+10000) {
			return p
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func (n *clusterNode) waitReady() error {
	c := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
	defer c.Close()
	var err error
	for range 250 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil || n.cmd.ProcessState != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// testCluster is a running cluster of masters without replicas.
type testCluster struct {
	Masters []*clusterNode
}

// startCluster starts masters nodes and joins them with redis-cli
// --cluster create, which gives each master one contiguous slot range.
func startCluster(t testing.TB, masters int) *testCluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed (apt-get install -y redis-tools): %v", err)
	}
	c := &testCluster{}
	args := []string{"--cluster", "create"}
	for range masters {
		n := startClusterNode(t)
		c.Masters = append(c.Masters, n)
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Masters {
		n.waitClusterOK(t, masters)
	}
	return c
}

// waitClusterOK waits until the node sees the cluster ok with every master.
func (n *clusterNode) waitClusterOK(t testing.TB, masters int) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer c.Close()
	var info string
	for range 500 {
		info, _ = c.ClusterInfo(context.Background()).Result()
		if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("cluster node %s never became ok:\n%s", n.Addr, info)
}

// Client is a cluster client of c, closed at cleanup.
func (c *testCluster) Client(t testing.TB) *redis.ClusterClient {
	addrs := make([]string, len(c.Masters))
	for i, n := range c.Masters {
		addrs[i] = n.Addr
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, PoolSize: 16})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func newPlainClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
