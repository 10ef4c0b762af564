package harness

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
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
)

// A Redis Cluster for the end-to-end suite: masters cluster-enabled
// redis-server processes joined by redis-cli --cluster create (Debian's
// redis-server and redis-tools), each master holding one contiguous slot
// range. It is the suite's own until internal/testenv has a shared
// cluster starter (issue 15's lanes work).

// Cluster is a running Redis Cluster of masters only.
type Cluster struct {
	Addrs []string
}

// NewOnCluster starts a fleet (API and worker, as New) on a fresh
// 3-master Redis Cluster: the store in the tagged key layout with the
// cluster default of partitions, asynq on the cluster client. What the
// fleet logs at warn level and above is in Env.Logs.
func NewOnCluster(t testing.TB, mutate ...func(*config.Config, *fleet.Roles)) *Env {
	t.Helper()
	c := StartCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	core, logs := observer.New(zap.WarnLevel)
	e := newEnv(t, rdb, zap.New(core), mutate...)
	e.Cluster, e.Logs = c, logs
	return e
}

// StartCluster starts masters cluster-enabled redis-servers on free ports,
// joins them, and waits until every one sees the cluster ok. It fails the
// test when a binary is missing.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not installed (apt-get install -y redis-tools): %v", err)
	}
	c := &Cluster{}
	for range masters {
		c.Addrs = append(c.Addrs, startClusterNode(t))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range c.Addrs {
		waitClusterOK(t, a, masters)
	}
	return c
}

// startClusterNode starts one cluster-enabled redis-server and returns
// its address. A node's cluster bus is its port + 10000, so both must be
// free.
func startClusterNode(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (apt-get install -y redis-server): %v", err)
	}
	dir := t.TempDir()
	for range 10 {
		port := clusterPort(t)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
			"--cluster-node-timeout", "5000", "--daemonize", "no", "--loglevel", "warning", "--maxclients", "10000")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if pingUntil(addr, cmd, 5*time.Second) == nil {
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			return addr
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Fatal("no cluster-enabled redis-server came up in 10 attempts")
	return ""
}

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

func pingUntil(addr string, cmd *exec.Cmd, timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil || time.Now().After(deadline) || cmd.ProcessState != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitClusterOK(t testing.TB, addr string, masters int) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var info string
	for range 500 {
		info, _ = c.ClusterInfo(context.Background()).Result()
		if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("cluster node %s never became ok:\n%s", addr, info)
}

// KeysPerMaster is how many keys each master holds, by address.
func (c *Cluster) KeysPerMaster(t testing.TB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, a := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a})
		n, err := rdb.DBSize(context.Background()).Result()
		_ = rdb.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[a] = n
	}
	return out
}
