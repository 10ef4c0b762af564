package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a Redis primary with its replicas and three sentinels
// monitoring them, every process on a free loopback port: what
// SMSFLEET_REDIS_MODE=sentinel runs against. Tests kill the primary
// (KillPrimary) and wait for the sentinels to promote a replica
// (WaitNewPrimary).
type Sentinel struct {
	// MasterName is the name the sentinels monitor the primary under
	// (SMSFLEET_REDIS_MASTER_NAME).
	MasterName string
	// Addrs are the sentinels' addresses (SMSFLEET_REDIS_ADDRS).
	Addrs []string

	mu        sync.Mutex
	nodes     map[string]*Redis // data nodes by address, the killed ones included
	sentinels []*Redis
	dir       string
}

// SentinelOptions shape the set-up; the zero value is one replica, a
// 1 s down-after and a 3 s failover timeout.
type SentinelOptions struct {
	// Replicas of the primary (default 1). With SMSFLEET_REDIS_WAIT_REPLICAS=1
	// a fleet needs two to go on accepting writes once one node is gone.
	Replicas int
	// DownAfter is how long a primary may not answer before a sentinel
	// sees it down (sentinel down-after-milliseconds; default 1 s).
	DownAfter time.Duration
	// FailoverTimeout is sentinel failover-timeout (default 3 s): how long
	// before a failed failover is tried again, among others.
	FailoverTimeout time.Duration
}

// sentinelQuorum sentinels of three must agree that the primary is down.
const sentinelQuorum = 2

// StartSentinel starts the primary, its replicas and three sentinels, and
// returns once every sentinel knows the replicas and the other two
// sentinels (a failover can happen from then on).
func StartSentinel(o SentinelOptions) (*Sentinel, error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DownAfter <= 0 {
		o.DownAfter = time.Second
	}
	if o.FailoverTimeout <= 0 {
		o.FailoverTimeout = 3 * time.Second
	}
	bin, sentinelArgs, err := sentinelBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "smsfleet-sentinel-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	s := &Sentinel{MasterName: "smsfleet", nodes: map[string]*Redis{}, dir: dir}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	primary, err := s.startNode("")
	if err != nil {
		return nil, err
	}
	for range o.Replicas {
		if _, err := s.startNode(primary.Addr); err != nil {
			return nil, err
		}
	}
	for i := range 3 {
		sn, err := s.startSentinel(bin, sentinelArgs, i, primary.Addr, o)
		if err != nil {
			return nil, err
		}
		s.sentinels = append(s.sentinels, sn)
		s.Addrs = append(s.Addrs, sn.Addr)
	}
	if err := s.waitTopology(o.Replicas, 30*time.Second); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// NewSentinel starts a Sentinel set-up for the test and stops it at
// cleanup. Without redis-server it skips the test, except under CI=true,
// where it fails: CI must run it.
func NewSentinel(tb testing.TB, o SentinelOptions) *Sentinel {
	tb.Helper()
	s, err := StartSentinel(o)
	if errors.Is(err, errNoBinary) && os.Getenv("CI") != "true" {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

var errNoBinary = errors.New("testenv: binary not installed")

// sentinelBinary is redis-sentinel when installed, else redis-server run
// with --sentinel (the same program: Debian's redis-sentinel package adds
// only the name and a service). It returns the binary and the arguments
// that follow the configuration file.
func sentinelBinary() (string, []string, error) {
	if bin, err := exec.LookPath("redis-sentinel"); err == nil {
		return bin, nil, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("%w: neither redis-sentinel nor redis-server is on PATH (apt-get install -y redis-server): %w", errNoBinary, err)
	}
	return bin, []string{"--sentinel"}, nil
}

// startNode starts a data node: a primary, or a replica of primary.
func (s *Sentinel) startNode(primary string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-server (apt-get install -y redis-server): %w", errNoBinary, err)
	}
	return s.startProcess(func(port int) (*exec.Cmd, error) {
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", s.dir, "--dbfilename", "dump-" + strconv.Itoa(port) + ".rdb", "--daemonize", "no", "--loglevel", "warning", "--maxclients", "10000"}
		if primary != "" {
			host, pport, _ := net.SplitHostPort(primary)
			args = append(args, "--replicaof", host, pport)
		}
		return exec.Command(bin, args...), nil
	}, true)
}

// startSentinel starts sentinel i, monitoring primary. A sentinel
// rewrites its configuration file, so each has its own.
func (s *Sentinel) startSentinel(bin string, extra []string, i int, primary string, o SentinelOptions) (*Redis, error) {
	host, pport, _ := net.SplitHostPort(primary)
	return s.startProcess(func(port int) (*exec.Cmd, error) {
		conf := filepath.Join(s.dir, fmt.Sprintf("sentinel-%d.conf", i))
		body := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"daemonize no",
			"loglevel warning",
			"dir " + s.dir,
			fmt.Sprintf("sentinel monitor %s %s %s %d", s.MasterName, host, pport, sentinelQuorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", s.MasterName, o.DownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", s.MasterName, o.FailoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", s.MasterName),
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, fmt.Errorf("testenv: sentinel config: %w", err)
		}
		return exec.Command(bin, append([]string{conf}, extra...)...), nil
	}, false)
}

// startProcess starts the command build makes for a free port, trying
// another port when the first was taken between probe and bind. A data
// node is remembered by address (KillPrimary finds it there).
func (s *Sentinel) startProcess(build func(port int) (*exec.Cmd, error), dataNode bool) (*Redis, error) {
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd, err := build(port)
		if err != nil {
			return nil, err
		}
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("testenv: start %s: %w", cmd.Path, err)
		}
		go drain(out)
		// No dir: the set-up's directory is removed once, by Stop (never
		// by Redis.Stop, which removes its own).
		r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
		if err := r.waitReady(5 * time.Second); err == nil {
			if dataNode {
				s.mu.Lock()
				s.nodes[r.Addr] = r
				s.mu.Unlock()
			}
			return r, nil
		}
		kill(r)
	}
	return nil, fmt.Errorf("testenv: sentinel set-up: a process did not come up on a free port in 5 attempts")
}

// waitTopology waits until every sentinel sees the primary up with all its
// replicas and the two other sentinels, and every replica's link is up.
func (s *Sentinel) waitTopology(replicas int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = s.topologyReady(replicas); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("testenv: sentinel set-up not ready within %s: %w", timeout, last)
}

func (s *Sentinel) topologyReady(replicas int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, sn := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		m, err := c.Master(ctx, s.MasterName).Result()
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", sn.Addr, err)
		}
		if m["num-slaves"] != strconv.Itoa(replicas) || m["num-other-sentinels"] != "2" || m["flags"] != "master" {
			return fmt.Errorf("sentinel %s sees flags %s, %s replicas, %s other sentinels", sn.Addr, m["flags"], m["num-slaves"], m["num-other-sentinels"])
		}
	}
	primary, err := s.Primary(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, n := range s.nodes {
		if addr == primary || n.cmd.ProcessState != nil {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: addr})
		info, err := c.Info(ctx, "replication").Result()
		_ = c.Close()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s: link not up (%v)", addr, err)
		}
	}
	return nil
}

// Stop stops every process and removes the set-up's directory.
func (s *Sentinel) Stop() {
	for _, sn := range s.sentinels {
		_ = kill(sn)
	}
	s.mu.Lock()
	for _, n := range s.nodes {
		_ = kill(n)
	}
	s.mu.Unlock()
	_ = os.RemoveAll(s.dir)
}

// kill sends SIGKILL to r's process (once) and reaps it.
func kill(r *Redis) error {
	if r.cmd.ProcessState != nil {
		return nil
	}
	err := r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	return err
}
