// Package lifecycle is the one way smsfleet runs its long-lived background
// work: each piece (the receipts consumer, the outcome relay, a sweeper, …)
// is a Component with a Run(ctx) method, and a Supervisor starts them,
// restarts one that fails, and stops them in a fixed order.
//
// The shape follows hibiken/asynq's own components (heartbeater, janitor,
// recoverer: one type per job, one loop each, stopped by the server) and
// river's startstop, without their per-component start/stop plumbing: a
// component here only has to return from Run when its context ends.
//
// # Rules for components
//
//   - No goroutine in a constructor: the work runs in Run, under the
//     supervisor.
//   - Run returns nil when ctx is done. Returning nil earlier means the work
//     is finished; the component is not run again.
//   - Returning an error (or panicking) means the run failed; the supervisor
//     logs it and runs the component again after a backoff
//     (internal/backoff), which starts over once a run has lasted longer than
//     the backoff's maximum.
//
// # Stop order
//
// Stop stops components one at a time in the reverse of the order they
// were added: each one's context is cancelled and Stop waits for its Run to
// return before it cancels the next. A process therefore adds what others
// depend on first and what feeds work in last; the fleet adds the outcome
// relay, then the receipts consumer and forwarder, then the worker lanes,
// then the sweepers, so on shutdown the sweepers stop putting new work in,
// the lanes drain, and the relay is last to see the lanes' outcomes.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
)

// Component is one piece of long-running work.
type Component interface {
	// Name identifies the component in logs.
	Name() string
	// Run works until ctx is done (then returns nil) or it fails.
	Run(ctx context.Context) error
}

// Func makes a Component of a function.
func Func(name string, run func(ctx context.Context) error) Component {
	return funcComponent{name: name, run: run}
}

type funcComponent struct {
	name string
	run  func(ctx context.Context) error
}

func (f funcComponent) Name() string                  { return f.name }
func (f funcComponent) Run(ctx context.Context) error { return f.run(ctx) }

// DefaultRestart is how long a failed component waits before it runs
// again: a second at first, doubling to half a minute while it keeps
// failing.
var DefaultRestart = backoff.Policy{Base: time.Second, Max: 30 * time.Second}

// Options configure a Supervisor.
type Options struct {
	Log *zap.Logger
	// Restart paces restarts after failures (zero: DefaultRestart).
	Restart backoff.Policy
	// Now is the clock a run's length is measured on (nil: time.Now).
	Now func() time.Time
	// After waits before a restart (nil: time.After); tests inject one
	// that records the delay and returns at once.
	After func(time.Duration) <-chan time.Time
}

// Supervisor runs components. Add them, then Start once and Stop once.
type Supervisor struct {
	opts    Options
	mu      sync.Mutex
	entries []*entry
	started bool
}

type entry struct {
	c      Component
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a supervisor with nothing to run yet.
func New(o Options) *Supervisor {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Restart == (backoff.Policy{}) {
		o.Restart = DefaultRestart
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return &Supervisor{opts: o}
}

// Add registers components, in start order (Stop goes in reverse). Added
// after Start, a component starts at once.
func (s *Supervisor) Add(cs ...Component) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		e := &entry{c: c, done: make(chan struct{})}
		s.entries = append(s.entries, e)
		if s.started {
			s.start(e)
		}
	}
}

// Start runs every component added so far, each in its own goroutine,
// until Stop.
func (s *Supervisor) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	for _, e := range s.entries {
		s.start(e)
	}
}

func (s *Supervisor) start(e *entry) {
	// Stop, not the caller's context, ends a component: each is cancelled
	// on its own, in order.
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		s.supervise(ctx, e.c)
	}()
}

// Stop stops the components in the reverse of the order they were added,
// each fully before the next. It returns early, with an error naming the
// components still running, when ctx ends first.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	entries := append([]*entry(nil), s.entries...)
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		e.cancel()
		select {
		case <-e.done:
		case <-ctx.Done():
			var running []string
			for _, r := range entries[:i+1] {
				r.cancel()
				select {
				case <-r.done:
				default:
					running = append(running, r.c.Name())
				}
			}
			return fmt.Errorf("lifecycle: stop: %w; still running: %v", ctx.Err(), running)
		}
		s.opts.Log.Debug("component stopped", zap.String("component", e.c.Name()))
	}
	return nil
}

// supervise runs c until ctx is done or a run finishes without error,
// running it again after each failure.
func (s *Supervisor) supervise(ctx context.Context, c Component) {
	log := s.opts.Log.With(zap.String("component", c.Name()))
	failures := 0
	for {
		began := s.opts.Now()
		err := runOnce(ctx, c)
		if ctx.Err() != nil {
			if err != nil {
				log.Debug("component failed while stopping", zap.Error(err))
			}
			return
		}
		if err == nil {
			log.Info("component finished")
			return
		}
		// A run that lasted longer than the longest delay was healthy for
		// a while: its failure starts the backoff over.
		if s.opts.Now().Sub(began) > s.opts.Restart.Max {
			failures = 0
		}
		delay := s.opts.Restart.Delay(failures)
		failures++
		log.Error("component failed; running it again", zap.Error(err), zap.Int("failures", failures), zap.Duration("after", delay))
		select {
		case <-ctx.Done():
			return
		case <-s.opts.After(delay):
		}
	}
}

// errPanic marks a run that panicked.
var errPanic = errors.New("panic")

// runOnce runs c once, turning a panic into an error so one component's
// bug does not take the process down (as asynq's recoverer does for
// tasks).
func runOnce(ctx context.Context, c Component) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: %w: %v\n%s", c.Name(), errPanic, p, debug.Stack())
		}
	}()
	return c.Run(ctx)
}

// Every calls fn every interval until ctx is done (then returns nil) or fn
// fails (then returns its error, and the supervisor runs the component
// again after a backoff). It is the loop of the periodic components, the
// sweepers.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := fn(ctx); err != nil {
				if ctx.Err() != nil {
					return nil // cut short by shutdown: not a failure
				}
				return err
			}
		}
	}
}
