package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrMissingBinary is wrapped by StartCluster's error when redis-server or
// redis-cli is not installed (Debian: redis-server and redis-tools).
var ErrMissingBinary = errors.New("testenv: binary not installed")

// clusterNodeTimeout is every node's cluster-node-timeout: how long a
// master may be unreachable before its replica is promoted. Redis's
// default, 15 s, would make each failover test wait that long.
const clusterNodeTimeout = 1000 * time.Millisecond

// clusterWait bounds each wait for the cluster to form or heal: a guard
// against a hang on a broken set-up, never a measurement.
const clusterWait = 60 * time.Second

// Cluster is a Redis Cluster of redis-server processes on loopback ports,
// joined by redis-cli --cluster create.
type Cluster struct {
	dir string

	mu    sync.Mutex
	nodes []*clusterNode
}

// clusterNode is one redis-server of the cluster.
type clusterNode struct {
	Addr string
	cmd  *exec.Cmd
	dead bool
}

// Master is a master of the cluster and the slots it serves, as
// inclusive [first, last] ranges.
type Master struct {
	Addr  string
	Slots [][2]int
}

// Owns reports whether the master serves slot.
func (m Master) Owns(slot int) bool {
	for _, r := range m.Slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// NewCluster starts a cluster for the test and stops it at cleanup. A
// missing binary skips the test on a developer's machine and fails it
// under CI=true: a test skipped in CI is not a test.
func NewCluster(tb testing.TB, masters, replicasPerMaster int) *Cluster {
	tb.Helper()
	c, err := StartCluster(masters, replicasPerMaster)
	if errors.Is(err, ErrMissingBinary) && os.Getenv("CI") != "true" {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// StartCluster starts masters·(1+replicasPerMaster) redis-server processes
// with cluster mode on, each on a free loopback port P whose bus port
// P+10000 is free too, joins them with redis-cli --cluster create
// (--cluster-replicas replicasPerMaster), and waits until every node says
// cluster_state:ok, every slot is served and every replica is in sync.
func StartCluster(masters, replicasPerMaster int) (*Cluster, error) {
	if masters < 3 || replicasPerMaster < 0 {
		// redis-cli --cluster create refuses fewer than three masters.
		return nil, fmt.Errorf("testenv: a cluster needs at least 3 masters and no negative replicas, got %d and %d", masters, replicasPerMaster)
	}
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-server (apt-get install -y redis-server): %v", ErrMissingBinary, err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-cli (apt-get install -y redis-tools): %v", ErrMissingBinary, err)
	}
	dir, err := os.MkdirTemp("", "smsfleet-cluster-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	c := &Cluster{dir: dir}
	for i := range masters * (1 + replicasPerMaster) {
		n, err := startClusterNode(server, filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.create(cli, replicasPerMaster); err != nil {
		c.Stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		c.Stop()
		return nil, fmt.Errorf("testenv: the cluster did not form: %w", err)
	}
	return c, nil
}

// startClusterNode starts one cluster-enabled redis-server in dir on a
// port whose bus port is free too, retrying another pair when either was
// taken between the probe and the bind.
func startClusterNode(bin, dir string) (*clusterNode, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		port, err := freeClusterPort()
		if err != nil {
			lastErr = err
			continue
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", strconv.FormatInt(clusterNodeTimeout.Milliseconds(), 10),
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning", "--maxclients", "10000")
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("testenv: start redis-server: %w", err)
		}
		go drain(out)
		n := &clusterNode{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
		r := &Redis{Addr: n.Addr, cmd: cmd}
		if lastErr = r.waitReady(5 * time.Second); lastErr == nil {
			return n, nil
		}
		n.kill()
		_ = os.Remove(filepath.Join(dir, "nodes.conf"))
	}
	return nil, fmt.Errorf("testenv: no cluster node came up in %s after 10 attempts: %w", dir, lastErr)
}

// freeClusterPort finds a loopback port P with P+10000 (its cluster bus
// port) free as well.
func freeClusterPort() (int, error) {
	for range 50 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("testenv: no free port P with P+10000 free in 50 tries")
}

// create joins the nodes with redis-cli --cluster create.
func (c *Cluster) create(cli string, replicas int) error {
	args := []string{"--cluster", "create"}
	for _, n := range c.nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "All 16384 slots covered") {
		return fmt.Errorf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	return nil
}

// Addrs are the addresses of the nodes still running: the seeds of a
// cluster client.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.nodes {
		if !n.dead {
			out = append(out, n.Addr)
		}
	}
	return out
}

// Client returns a go-redis cluster client seeded with every live node,
// closed at cleanup.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 64})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// NodeClient returns a plain client of one node (its DBSIZE, INFO, ...);
// the caller closes it.
func NodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
}

// Masters reads, from a live node, which node masters which slots, in
// the order of their first slot.
func (c *Cluster) Masters(ctx context.Context) ([]Master, error) {
	var lastErr error
	for _, addr := range c.Addrs() {
		ms, err := mastersSeenBy(ctx, addr)
		if err == nil {
			return ms, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("testenv: no live node answered CLUSTER SLOTS: %w", lastErr)
}

// MasterOf is the master serving slot.
func (c *Cluster) MasterOf(ctx context.Context, slot int) (string, error) {
	ms, err := c.Masters(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.Owns(slot) {
			return m.Addr, nil
		}
	}
	return "", fmt.Errorf("testenv: no master serves slot %d", slot)
}

// ReplicasOf are the live nodes that replicate master, as master sees
// them (INFO replication).
func (c *Cluster) ReplicasOf(ctx context.Context, master string) ([]string, error) {
	rdb := NodeClient(master)
	defer rdb.Close()
	info, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("testenv: info replication of %s: %w", master, err)
	}
	var out []string
	for _, line := range strings.Split(info, "\n") {
		// slave0:ip=127.0.0.1,port=30001,state=online,offset=...,lag=0
		if !strings.HasPrefix(line, "slave") || !strings.Contains(line, ":ip=") {
			continue
		}
		fields := map[string]string{}
		_, kv, _ := strings.Cut(strings.TrimSpace(line), ":")
		for _, f := range strings.Split(kv, ",") {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		out = append(out, net.JoinHostPort(fields["ip"], fields["port"]))
	}
	return out, nil
}

// KillMaster kills master with SIGKILL (kill -9): no shutdown, no
// handover; its replica, if it has one, is promoted after the node
// timeout. It fails when addr is not a running master of the cluster.
func (c *Cluster) KillMaster(ctx context.Context, addr string) error {
	ms, err := c.Masters(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ms, func(m Master) bool { return m.Addr == addr }) {
		return fmt.Errorf("testenv: %s is not a master of the cluster", addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.Addr == addr && !n.dead {
			n.kill()
			return nil
		}
	}
	return fmt.Errorf("testenv: %s is not a running node", addr)
}

// WaitHealthy waits until every live node reports cluster_state:ok with
// all 16384 slots assigned and ok, the slot map names only live masters
// covering every slot, and every live replica's link to its master is up.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for {
		err := c.healthy(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// healthy is one check of WaitHealthy.
func (c *Cluster) healthy(ctx context.Context) error {
	live := c.Addrs()
	for _, addr := range live {
		rdb := NodeClient(addr)
		info, err := rdb.ClusterInfo(ctx).Result()
		if err == nil {
			var repl string
			repl, err = rdb.Info(ctx, "replication").Result()
			if err == nil && strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				err = errors.New("replica not in sync with its master")
			}
		}
		_ = rdb.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_slots_ok:16384"} {
			if !strings.Contains(info, want) {
				return fmt.Errorf("%s: no %s yet", addr, want)
			}
		}
		ms, err := mastersSeenBy(ctx, addr)
		if err != nil {
			return err
		}
		covered := 0
		for _, m := range ms {
			if !slices.Contains(live, m.Addr) {
				return fmt.Errorf("%s still maps slots to %s, which is down", addr, m.Addr)
			}
			for _, r := range m.Slots {
				covered += r[1] - r[0] + 1
			}
		}
		if covered != 16384 {
			return fmt.Errorf("%s maps %d of 16384 slots", addr, covered)
		}
	}
	return nil
}

// mastersSeenBy is the slot map one node holds (CLUSTER SLOTS).
func mastersSeenBy(ctx context.Context, addr string) ([]Master, error) {
	rdb := NodeClient(addr)
	defer rdb.Close()
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("testenv: cluster slots of %s: %w", addr, err)
	}
	byAddr := map[string]*Master{}
	var order []string
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		m := s.Nodes[0].Addr
		if byAddr[m] == nil {
			byAddr[m] = &Master{Addr: m}
			order = append(order, m)
		}
		byAddr[m].Slots = append(byAddr[m].Slots, [2]int{int(s.Start), int(s.End)})
	}
	out := make([]Master, 0, len(order))
	for _, a := range order {
		m := *byAddr[a]
		slices.SortFunc(m.Slots, func(a, b [2]int) int { return a[0] - b[0] })
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Master) int { return a.Slots[0][0] - b.Slots[0][0] })
	return out, nil
}

// Stop kills every node and removes the cluster's directory.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		n.kill()
	}
	_ = os.RemoveAll(filepath.Clean(c.dir))
}

// kill sends SIGKILL and reaps the process.
func (n *clusterNode) kill() {
	if n.dead {
		return
	}
	n.dead = true
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}
