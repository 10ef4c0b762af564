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
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

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
	dir := filepath.Join(logDir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	p := newProc("redis", logDir, "redis-server", nil,
		"--port", port, "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", fsync, "--aof-load-truncated", "yes",
		"--auto-aof-rewrite-percentage", "0", "--daemonize", "no", "--loglevel", "warning", "--maxclients", "10000")
	r := &redisProc{proc: p, addr: addr, dir: dir}
	return r, r.restart()
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
	redis    *redisProc
	kafka    interface{ Close() }
	sim      *proc
	simAddr  string
	proxy    *proxy
	api      *proc
	apiAddr  string
	workers  []*proc
	receipts *proc
}

const (
	appCode  = "CHAOS-00001"
	appToken = "chaos-server-token"
)

// fleetOptions varies a deployment per scenario.
type fleetOptions struct {
	fsync string   // appendfsync: everysec (default) or always
	env   []string // extra SMSFLEET_* for every role
}

func startFleet(bin, dir string, o fleetOptions) (*fleet, error) {
	f := &fleet{dir: dir}
	if o.fsync == "" {
		o.fsync = "everysec"
	}
	var err error
	if f.redis, err = startRedis(dir, o.fsync); err != nil {
		return f, err
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
	common := append([]string{
		"SMSFLEET_REDIS_ADDR=" + f.redis.addr,
		"SMSFLEET_APPLICATIONS=" + appCode + ":" + appToken,
		"SMSFLEET_CONFIG=" + cfgFile,
		"SMSFLEET_KAFKA_BROKERS=" + kafkaAddr,
		"SMSFLEET_PUBLIC_URL=http://" + receiptsAddr,
		"SMSFLEET_LOG_LEVEL=warn",
		"SMSFLEET_SHUTDOWN_GRACE=5s",
	}, o.env...)
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
	if f.redis != nil {
		f.redis.forget()
	}
	if f.proxy != nil {
		f.proxy.close()
	}
	if f.kafka != nil {
		f.kafka.Close()
	}
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
	k, err := testenv.StartKafka(3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic)
	if err != nil {
		return nil, "", err
	}
	return k, k.Addr, nil
}
