package harness

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// BackendEnv names the Redis the end-to-end suite runs on:
// "standalone" (the default: a fresh redis-server per test) or "cluster"
// (a 3-master Redis Cluster shared by the tests of one run, emptied
// before each). CI runs the suite once with each (.ci/run, issue 15).
const BackendEnv = "SMSFLEET_E2E_REDIS"

// OnCluster reports whether this run's suite is on a Redis Cluster.
func OnCluster() bool { return os.Getenv(BackendEnv) == "cluster" }

// StandaloneOnly skips t on the cluster run, saying why: tests that build
// their own Redis set-up (a Sentinel group, a cluster with replicas, a
// second fleet on the same server) or that read the plain key layout by
// name. Each such test runs on the standalone run; what it checks on the
// cluster is covered there by the tests that run on both.
func StandaloneOnly(t testing.TB, why string) {
	t.Helper()
	if OnCluster() {
		t.Skipf("standalone run only (%s=standalone): %s", BackendEnv, why)
	}
}

// Plain is the fleet's client of its standalone redis-server, for tests
// that read keys of the plain layout by name; on the cluster run it skips
// the test (StandaloneOnly).
func (e *Env) Plain() *redis.Client {
	e.T.Helper()
	StandaloneOnly(e.T, "reads the store's plain key layout by name")
	return e.RDB
}

// shared is the cluster run's one cluster: starting three nodes and
// joining them costs seconds, so the tests share it and each starts on an
// empty one (newOnSharedCluster).
var shared struct {
	once sync.Once
	c    *testenv.Cluster
	err  error
}

// newOnSharedCluster starts e's fleet on the run's cluster after emptying
// every master (the previous test's fleet has stopped by then: tests of
// this package do not run in parallel). The client is the one
// production builds (redisx.New in cluster mode).
func newOnSharedCluster(t testing.TB, mutate ...func(*config.Config, *fleet.Roles)) *Env {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = testenv.StartCluster(3, 0) })
	if shared.err != nil {
		t.Fatalf("the suite's Redis Cluster: %v", shared.err)
	}
	c := shared.c
	ctx := context.Background()
	masters, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range masters {
		rdb := testenv.NodeClient(m.Addr)
		err := rdb.FlushAll(ctx).Err()
		_ = rdb.Close()
		if err != nil {
			t.Fatalf("empty the cluster's master %s: %v", m.Addr, err)
		}
	}
	rdb := redisx.New(config.Redis{Mode: config.RedisCluster, Addrs: c.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnv(t, rdb, nil, mutate...)
	e.Cluster = c
	return e
}

// StopShared stops the cluster run's cluster, if one was started; the
// package's TestMain calls it after the tests.
func StopShared() {
	if shared.c != nil {
		shared.c.Stop()
	}
}

// Main runs a package's tests and then stops what the run shared.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "e2e: failed on the", backendName(), "run")
	}
	os.Exit(code)
}

func backendName() string {
	if OnCluster() {
		return "cluster"
	}
	return "standalone"
}

// ScanKeys returns the keys matching pattern on the fleet's Redis: on
// every master of a cluster, on the one server otherwise.
func (e *Env) ScanKeys(pattern string) []string {
	e.T.Helper()
	ctx := context.Background()
	var (
		mu  sync.Mutex
		out []string
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			out = append(out, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	switch c := e.Client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		err = fmt.Errorf("client %T", c)
	}
	if err != nil {
		e.T.Fatalf("scan %s: %v", pattern, err)
	}
	return out
}

// DeviceKey and DevicesKey name an application's device hash and device
// set as the store writes them (internal/store/keys.go): in the tagged
// layout of a cluster the application is the hash tag.
func (e *Env) DeviceKey(app, phone string) string { return "sf:d:" + e.appInKey(app) + ":" + phone }

// DevicesKey: see DeviceKey.
func (e *Env) DevicesKey(app string) string { return "sf:ds:" + e.appInKey(app) }

func (e *Env) appInKey(app string) string {
	if e.Fleet.Store().Layout().Tagged {
		return "{" + app + "}"
	}
	return app
}

// NewClient is a client of the fleet's Redis of its own, as another pod
// would have (closed at cleanup): of the redis-server, or of the cluster.
func (e *Env) NewClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if e.Cluster != nil {
		c = redisx.New(config.Redis{Mode: config.RedisCluster, Addrs: e.Cluster.Addrs()})
	} else {
		c = redis.NewClient(&redis.Options{Addr: e.Redis.Addr, PoolSize: 64})
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
