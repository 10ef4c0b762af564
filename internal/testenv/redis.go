// Package testenv starts the real parts tests talk to: a redis-server on a
// free port (never the machine's own Redis on 6379) and, later, an
// in-process Kafka broker.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server started for one test or package.
type Redis struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
}

// StartRedis starts redis-server on a free loopback port with no
// persistence. It fails with a clear message when the binary is missing.
func StartRedis() (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("testenv: redis-server is not installed (apt-get install -y redis-server); the tests need a real Redis: %w", err)
	}
	dir, err := os.MkdirTemp("", "smsfleet-redis-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--daemonize", "no", "--loglevel", "warning", "--maxclients", "10000")
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("testenv: start redis-server: %w", err)
		}
		go drain(out)
		r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd, dir: dir}
		if err := r.waitReady(5 * time.Second); err == nil {
			return r, nil
		}
		r.stop() // port taken between probe and bind, most likely: try another
	}
	return nil, fmt.Errorf("testenv: redis-server did not come up on a free port in 5 attempts")
}

// NewRedis starts a redis-server for the test and stops it at cleanup.
func NewRedis(tb testing.TB) *Redis {
	tb.Helper()
	r, err := StartRedis()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Stop)
	return r
}

// Client returns a new client of the server, closed at cleanup.
func (r *Redis) Client(tb testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 64})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Flush empties the server between tests of one package.
func (r *Redis) Flush(tb testing.TB) {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		tb.Fatalf("flushall: %v", err)
	}
}

// UsedMemory returns INFO memory's used_memory in bytes.
func (r *Redis) UsedMemory(ctx context.Context) (int64, error) {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("info memory: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("info memory: no used_memory line")
}

// Stop stops the server and removes its directory.
func (r *Redis) Stop() { r.stop() }

func (r *Redis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
	_ = os.RemoveAll(filepath.Clean(r.dir))
}

func (r *Redis) waitReady(timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || r.cmd.ProcessState != nil {
			return fmt.Errorf("redis-server at %s not ready: %w", r.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func drain(r interface{ Read([]byte) (int, error) }) {
	buf := make([]byte, 4096)
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}
