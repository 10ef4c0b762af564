package e2e_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// failoverFault is what a failover test does to Redis once a third of the
// load is accepted: it returns when the fault happened (the node is gone)
// and, after its recovery, a line saying what happened; err stops the test.
type failoverFault func(ctx context.Context) (killAt time.Time, what string, err error)

// runFailover is the Redis failover tests' one procedure (Sentinel and
// Cluster): an API and a worker, each a fleet built by fleet.New from cfg
// (their own Redis clients, as separate pods), take n single sends from 32
// careful clients (failoverLoad) while fault strikes; then every accepted
// SMS is accounted for at the idempotent provider and in the store, and
// what the API answered during the switch is checked and logged.
func runFailover(t *testing.T, cfg config.Config, n int, fault failoverFault) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sim := simulator.New("simulator", 0)
	var replays atomic.Int64
	simServer := httptest.NewServer(countReplays(sim.Handler(), &replays))
	t.Cleanup(simServer.Close)
	apiServer := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + apiServer.Listener.Addr().String()
	api := startFleet(t, cfg, fleet.Roles{API: true}, nil)
	// The worker's warnings are kept to count the messages its outbox
	// sweeper had to enqueue again.
	core, logs := observer.New(zap.WarnLevel)
	startFleet(t, cfg, fleet.Roles{Worker: true}, zap.New(core), provider.NewSimulator("simulator", simServer.URL+"/simulator", nil))
	apiServer.Config.Handler = api.Handler()
	apiServer.Start()
	t.Cleanup(apiServer.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	load := &failoverLoad{api: apiServer.URL, clientTimeout: 10 * time.Second, retryFor: time.Minute}
	var (
		once     sync.Once
		struck   = make(chan struct{})
		killAt   time.Time
		what     string
		faultErr error
	)
	start := time.Now()
	load.run(ctx, n, 32, func(accepted int) {
		if accepted < n/3 {
			return
		}
		once.Do(func() {
			go func() {
				defer close(struck)
				killAt, what, faultErr = fault(ctx)
			}()
		})
	})
	loadTook := time.Since(start)
	<-struck
	if faultErr != nil {
		t.Fatal(faultErr)
	}
	t.Logf("%d SMS sent by 32 clients in %.1f s; at +%.1f s %s", n, loadTook.Seconds(), killAt.Sub(start).Seconds(), what)

	settleStart := time.Now()
	acct := account(ctx, t, api.Store(), sim, load.accepted)
	t.Logf("failover accounting: accepted %d of %d, gave up on %d; at the provider %d accepted SMS once (%d sends it deduplicated by SMS id), lost %d, stuck %d, second SMS to an accepted phone %d; %d messages re-enqueued by the outbox sweeper; settled %.1f s after the load",
		len(load.accepted), n, load.notAccepted, acct.once, replays.Load(), acct.lost, acct.stuck, acct.duplicates,
		logs.FilterMessage("outbox: enqueued a message the intake had not").Len(), time.Since(settleStart).Seconds())
	unavailable := time.Duration(0)
	if !load.firstBad.IsZero() {
		unavailable = load.lastBad.Sub(load.firstBad)
	}
	t.Logf("during the switch: %d answers 503 with Retry-After, %d failures (%d hung); API unavailable for %.2f s (first to last 503 or failure), from +%.2f s after the kill; longest time without an acceptance %.2f s, ending +%.2f s after the kill",
		load.unavailable503, load.failures, load.hung, unavailable.Seconds(), load.firstBad.Sub(killAt).Seconds(),
		load.longestGap.Seconds(), load.gapEnd.Sub(killAt).Seconds())

	if load.failures != 0 {
		t.Errorf("%d requests failed other than 503 with Retry-After (%d hung); first: %q", load.failures, load.hung, load.failureExamples)
	}
	if load.notAccepted != 0 || len(load.accepted) != n {
		t.Errorf("accepted %d of %d; the client gave up on %d", len(load.accepted), n, load.notAccepted)
	}
	if acct.lost != 0 || acct.stuck != 0 || acct.duplicates != 0 || acct.once != len(load.accepted) {
		t.Errorf("accounting: %+v for %d accepted", acct, len(load.accepted))
	}
}
