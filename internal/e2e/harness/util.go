package harness

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// RunDispatch runs the fan-out handler of code synchronously, as the worker
// would when its dispatch task comes due.
func RunDispatch(t testing.TB, e *Env, code string) {
	t.Helper()
	f := &dispatcher.Fanout{Store: e.Fleet.Store(), Enqueuer: e.Fleet.Enqueuer(), Log: zap.NewNop(), Parallel: 4}
	if err := f.ProcessTask(context.Background(), asynq.NewTask(tasks.TypeDispatch, []byte(tasks.DispatchID(code, 0)))); err != nil {
		t.Fatalf("dispatch %s: %v", code, err)
	}
}

// SMSID is the id the fleet gave the SMS that message code sends to phone
// (derived with the fleet's id key, in the message's id scheme).
func SMSID(t testing.TB, st *store.Store, code, phone string) string {
	t.Helper()
	return storetest.SMSID(t, st, code, phone)
}

// Claim takes an SMS for sending as a worker would (load, then begin),
// standing for an attempt that never reached the provider.
func Claim(t testing.TB, st *store.Store, id string) int {
	t.Helper()
	l, ok, err := st.LoadSMS(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("load %s: %v %v", id, ok, err)
	}
	attempts, _, ok, err := st.Begin(context.Background(), id, l)
	if err != nil || !ok {
		t.Fatalf("begin %s: %v %v", id, ok, err)
	}
	return attempts
}

// StartWorker starts a worker-only fleet on e's Redis client and clock,
// sending through provs (default: e's simulator providers); it stops at
// cleanup.
func StartWorker(t testing.TB, e *Env, provs ...provider.Provider) {
	t.Helper()
	StartWorkerOn(t, e, e.Client, provs...)
}

// StartPod starts a worker-only fleet with its own Redis client, as a
// separate pod would run.
func StartPod(t testing.TB, e *Env) {
	t.Helper()
	StartWorkerOn(t, e, e.NewClient(t))
}

// StartWorkerOn starts a worker-only fleet on rdb with e's configuration
// and clock, sending through provs (default: e's simulator providers); it
// stops at cleanup.
func StartWorkerOn(t testing.TB, e *Env, rdb redis.UniversalClient, provs ...provider.Provider) {
	t.Helper()
	if len(provs) == 0 {
		provs = e.Providers()
	}
	startWorker(t, e, rdb, provs)
}

// StartConfiguredWorker starts a worker-only fleet on e's Redis that
// builds its providers from e's configuration, as production does (an
// SMPP provider with its connection and its receipts and replies wiring),
// rather than sending through e's simulator; it stops at cleanup.
func StartConfiguredWorker(t testing.TB, e *Env) {
	t.Helper()
	startWorker(t, e, e.Client, nil)
}

// startWorker starts a worker-only fleet on rdb with provs (nil: the
// configuration's) and stops it at cleanup.
func startWorker(t testing.TB, e *Env, rdb redis.UniversalClient, provs []provider.Provider) {
	t.Helper()
	f, err := fleet.New(context.Background(), fleet.Options{
		Config: e.Config, Roles: fleet.Roles{Worker: true}, Redis: rdb, Now: e.Clock.Now, Providers: provs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Shutdown(ctx)
	})
}

// Poll calls cond every interval until it holds (true) or timeout has
// passed (false). It is the suite's one way to wait for something to
// happen, in place of sleeping a guessed while.
func Poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-t.C
	}
	return true
}

// Eventually fails the test unless cond holds within timeout; why says
// what was seen instead.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, why func() string) {
	t.Helper()
	if !Poll(timeout, 20*time.Millisecond, cond) {
		t.Fatal(why())
	}
}
