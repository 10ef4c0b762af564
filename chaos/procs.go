package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

// Every process the suite starts is registered here, so that a scenario's
// end, a panic or Ctrl-C kills them all (by pid, never by name).
var (
	procsMu sync.Mutex
	procs   = map[*proc]bool{}
)

// killAll kills every process still registered.
func killAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for p := range procs {
		p.kill9()
		delete(procs, p)
	}
}

// proc is one child process, restartable with the same command line.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	log  string // file its stdout and stderr are appended to

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newProc(name, logDir, bin string, env []string, args ...string) *proc {
	p := &proc{name: name, bin: bin, args: args, env: env, log: filepath.Join(logDir, name+".log")}
	procsMu.Lock()
	procs[p] = true
	procsMu.Unlock()
	return p
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: Ctrl-C reaches only the suite, which kills the
	// children itself; Pdeathsig kills them should the suite be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// signal sends sig to the running process (no-op when it is not running).
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill9 kills the process with SIGKILL and waits (at most 5 s) for it.
func (p *proc) kill9() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a stopped process dies too
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// setEnv adds kv ("NAME=value") to the process' environment from its next
// start on; a later value of the same name wins (os/exec keeps the last).
func (p *proc) setEnv(kv string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.env = append(append([]string{}, p.env...), kv)
}

// stopGracefully sends SIGTERM and waits up to grace for the process to
// exit, then kills it with SIGKILL (as a rollout does).
func (p *proc) stopGracefully(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
	}
	p.kill9()
}

func (p *proc) forget() {
	p.kill9()
	procsMu.Lock()
	delete(procs, p)
	procsMu.Unlock()
}

// freeAddr returns a free loopback address.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHTTP waits until GET url answers 200.
func waitHTTP(url string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s not ready within %s", url, timeout)
}

// redisProc is a redis-server with AOF in its own directory, restartable
// on the same port and data.
type redisProc struct {
	*proc
	addr, dir string
}

func startRedis(logDir, fsync string) (*redisProc, error) {
	return startRedisNamed(logDir, "redis", fsync, "")
}

// startRedisNamed starts a redis-server called name (its log name.log, its
// data in logDir/name) on a free port; with primary set ("host:port") it is
// a replica of it (--replicaof), returned once its link is up and the
// initial sync is done.
func startRedisNamed(logDir, name, fsync, primary string) (*redisProc, error) {
	dir := filepath.Join(logDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", fsync, "--aof-load-truncated", "yes",
		"--auto-aof-rewrite-percentage", "0", "--daemonize", "no", "--loglevel", "warning", "--maxclients", "10000"}
	if primary != "" {
		host, pport, _ := net.SplitHostPort(primary)
		args = append(args, "--replicaof", host, pport)
	}
	p := newProc(name, logDir, "redis-server", nil, args...)
	r := &redisProc{proc: p, addr: addr, dir: dir}
	if err := r.restart(); err != nil {
		return r, err
	}
	if primary != "" {
		return r, r.waitLinkUp(30 * time.Second)
	}
	return r, nil
}

// waitLinkUp waits until this replica reports master_link_status:up (the
// initial sync is done and it streams the primary's writes).
func (r *redisProc) waitLinkUp(timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		info, err := c.Info(ctx, "replication").Result()
		cancel()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return nil
		}
	}
	return fmt.Errorf("redis replica at %s: link to its primary not up within %s (see %s)", r.addr, timeout, r.log)
}

// promote makes this replica a primary (REPLICAOF NO ONE), as an operator
// or Sentinel does when the primary's host is gone.
func (r *redisProc) promote() error {
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Do(ctx, "REPLICAOF", "NO", "ONE").Err()
}

// restart starts redis-server (again) and waits until it answers PING.
func (r *redisProc) restart() error {
	if err := r.start(); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("redis-server at %s not ready (see %s)", r.addr, r.log)
}

// incrAOF is the newest incremental AOF file (Redis 7 multi-part AOF).
func (r *redisProc) incrAOF() string {
	files, _ := filepath.Glob(filepath.Join(r.dir, "appendonlydir", "*.incr.aof"))
	sort.Slice(files, func(i, j int) bool { return aofSeq(files[i]) < aofSeq(files[j]) })
	if len(files) == 0 {
		return ""
	}
	return files[len(files)-1]
}

func aofSeq(path string) int {
	// appendonly.aof.<seq>.incr.aof
	base := filepath.Base(path)
	var seq int
	for i := len("appendonly.aof."); i < len(base) && base[i] >= '0' && base[i] <= '9'; i++ {
		seq = seq*10 + int(base[i]-'0')
	}
	return seq
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// fleet is one smsfleet deployment on loopback: redis, Kafka (in the
// suite's process, over TCP), a standalone simulator behind the logging
// proxy, api, two workers and receipts.
type fleet struct {
	dir      string
	redis    *redisProc   // the primary the fleet uses (after a failover: the promoted replica)
	replica  *redisProc   // its replica (fleetOptions.replica), nil without
	oldRedis []*redisProc // primaries given up by a failover, killed at the end
	kafka    interface{ Close() }
	sim      *proc
	simAddr  string
	proxy    *proxy
	api      *proc
	apiAddr  string
	workers  []*proc
	receipts *proc
	// sentinel is the Sentinel set-up of a fleet in SMSFLEET_REDIS_MODE=sentinel
	// (fleetOptions.sentinel); redis then stands for its current primary.
	sentinel *testenv.Sentinel
}

const (
	appCode  = "CHAOS-00001"
	appToken = "chaos-server-token"
)

// fleetOptions varies a deployment per scenario.
type fleetOptions struct {
	fsync   string   // appendfsync: everysec (default) or always
	env     []string // extra SMSFLEET_* for every role
	replica bool     // run a Redis replica of the primary (redis-server --replicaof), its own AOF dir
	// sentinel runs Redis as a primary, two replicas and three sentinels
	// (sentinel.go) and the roles in SMSFLEET_REDIS_MODE=sentinel.
	sentinel bool
}

func startFleet(bin, dir string, o fleetOptions) (*fleet, error) {
	f := &fleet{dir: dir}
	if o.fsync == "" {
		o.fsync = "everysec"
	}
	var err error
	var redisEnv []string // how the roles reach Redis
	if o.sentinel {
		redisEnv, err = startSentinelRedis(f)
	} else {
		f.redis, err = startRedis(dir, o.fsync)
		if err == nil {
			redisEnv = []string{"SMSFLEET_REDIS_ADDR=" + f.redis.addr}
		}
	}
	if err != nil {
		return f, err
	}
	if o.replica {
		if f.replica, err = startRedisNamed(dir, "redis-replica", o.fsync, f.redis.addr); err != nil {
			return f, err
		}
	}
	k, kafkaAddr, err := startKafka()
	if err != nil {
		return f, err
	}
	f.kafka = k
	f.simAddr = freeAddr()
	f.sim = newProc("simulator", dir, bin, []string{"SMSFLEET_HTTP_ADDR=" + f.simAddr}, "simulator")
	if err := f.sim.start(); err != nil {
		return f, err
	}
	if err := waitHTTP("http://"+f.simAddr+"/readyz", 15*time.Second); err != nil {
		return f, err
	}
	if f.proxy, err = startProxy("http://" + f.simAddr); err != nil {
		return f, err
	}
	receiptsAddr := freeAddr()
	cfgFile := filepath.Join(dir, "smsfleet.yaml")
	cfg := fmt.Sprintf(`providers:
  - {name: sim-a, kind: simulator, url: "http://%[1]s/simulator"}
  - {name: sim-b, kind: simulator, url: "http://%[1]s/simulator"}
route:
  providers: [sim-a, sim-b]
`, f.proxy.addr)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return f, err
	}
	common := append(append(redisEnv,
		"SMSFLEET_APPLICATIONS="+appCode+":"+appToken,
		"SMSFLEET_CONFIG="+cfgFile,
		"SMSFLEET_KAFKA_BROKERS="+kafkaAddr,
		"SMSFLEET_PUBLIC_URL=http://"+receiptsAddr,
		"SMSFLEET_SIMULATOR_SECRET="+chaosSimulatorSecret,
		"SMSFLEET_LOG_LEVEL=warn",
		"SMSFLEET_SHUTDOWN_GRACE=5s",
	), o.env...)
	role := func(name, role, addr string) (*proc, error) {
		p := newProc(name, dir, bin, append(append([]string{}, common...), "SMSFLEET_HTTP_ADDR="+addr), role)
		if err := p.start(); err != nil {
			return p, err
		}
		return p, waitHTTP("http://"+addr+"/readyz", 30*time.Second)
	}
	f.apiAddr = freeAddr()
	if f.api, err = role("api", "api", f.apiAddr); err != nil {
		return f, err
	}
	for i := range 2 {
		w, err := role("worker"+strconv.Itoa(i+1), "worker", freeAddr())
		f.workers = append(f.workers, w)
		if err != nil {
			return f, err
		}
	}
	if f.receipts, err = role("receipts", "receipts", receiptsAddr); err != nil {
		return f, err
	}
	return f, nil
}

// stop kills everything of the fleet.
func (f *fleet) stop() {
	for _, p := range append([]*proc{f.api, f.receipts, f.sim}, f.workers...) {
		if p != nil {
			p.forget()
		}
	}
	for _, r := range append([]*redisProc{f.redis, f.replica}, f.oldRedis...) {
		if r != nil && r.proc != nil {
			r.forget()
		}
	}
	if f.sentinel != nil {
		f.sentinel.Stop()
	}
	if f.proxy != nil {
		f.proxy.close()
	}
	if f.kafka != nil {
		f.kafka.Close()
	}
}

// roles is every smsfleet role process of the fleet (not the simulator).
func (f *fleet) roles() []*proc {
	return append([]*proc{f.api, f.receipts}, f.workers...)
}

// restartAfter kill -9s p, waits d and starts it again.
func restartAfter(p *proc, d time.Duration) {
	p.kill9()
	time.Sleep(d)
	if err := p.start(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
}

// startKafka starts kfake in this process, listening on loopback TCP, with
// the fleet's topics.
func startKafka() (*testenv.Kafka, string, error) {
	k, err := testenv.StartKafka(3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic, inbound.Topic, inbound.TopicDLQ)
	if err != nil {
		return nil, "", err
	}
	return k, k.Addr, nil
}
