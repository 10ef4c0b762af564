// Package bench is `smsfleet bench`: a load generator that drives a
// running fleet over HTTP as a user would (registerDevice, then
// createMessage) and counts the SMS where they arrive, at the provider
// simulator; or drives Kannel's sendsms with the same client code, so the
// two are compared at the same concurrency (bench/kannel-peer.sh).
//
// It measures; it asserts nothing about speed. Figures and how to read
// them: docs/benchmarks.md.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Modes of a run.
const (
	// ModeSingle registers N devices, then sends N single-recipient
	// createMessage requests from C clients.
	ModeSingle = "single"
	// ModeBulk registers N devices, then sends one createMessage to all.
	ModeBulk = "bulk"
	// ModeOTPUnderBulk is ModeBulk plus OTPs sent one at a time while the
	// bulk message drains.
	ModeOTPUnderBulk = "otp-under-bulk"
)

// Targets of a run.
const (
	TargetSmsfleet = "smsfleet"
	// TargetKannel sends with Kannel's GET /cgi-bin/sendsms and counts
	// arrivals in the fake SMSC's log (ModeSingle only).
	TargetKannel = "kannel"
)

// Options are a run's settings (the command's flags).
type Options struct {
	Target string // TargetSmsfleet (default) or TargetKannel
	// URL is the fleet's base URL (http://127.0.0.1:8080), or Kannel
	// smsbox's (http://127.0.0.1:13013).
	URL string
	// SimURL is the provider simulator's base, ending /simulator (default
	// URL + "/simulator": `smsfleet all` mounts it in-process).
	SimURL string
	// App and Auth are the application code and its server token; for
	// Kannel, Auth is the sendsms user:password.
	App, Auth string
	N, C      int
	Mode      string
	// OTPs is how many OTPs ModeOTPUnderBulk sends, one at a time, each
	// after the previous one's answer and OTPGap.
	OTPs   int
	OTPGap time.Duration
	// Type is the message_type of ModeSingle's and the bulk's messages.
	Type string
	// Redis, when set, is the fleet's Redis: INFO deltas over the run give
	// its cost per SMS. Comma-separated addresses (a cluster's masters)
	// give the sum and each node's share.
	Redis string
	// Prefix starts every number of the run (+49151 and two digits; six
	// more follow), so runs against the same fleet do not collide.
	Prefix string
	// Timeout bounds the whole run.
	Timeout time.Duration
	// KannelLog is the fake SMSC's log, where it writes each SMS it gets
	// ("Got message"); TargetKannel counts arrivals there.
	KannelLog string
	// Progress, when set, gets a line per phase.
	Progress func(format string, args ...any)
}

// Validate names the first bad option.
func (o *Options) Validate() error {
	if o.Target == "" {
		o.Target = TargetSmsfleet
	}
	if o.SimURL == "" {
		o.SimURL = strings.TrimRight(o.URL, "/") + "/simulator"
	}
	for _, check := range []func() error{o.validateTarget, o.validateCounts} {
		if err := check(); err != nil {
			return err
		}
	}
	if o.Mode != ModeOTPUnderBulk {
		o.OTPs = 0
	}
	if _, err := Phones(o.Prefix, o.N+o.OTPs); err != nil {
		return err
	}
	return nil
}

// validateTarget checks what to drive (-target, -url, -mode) and the
// credentials each target needs.
func (o *Options) validateTarget() error {
	switch {
	case o.Target != TargetSmsfleet && o.Target != TargetKannel:
		return fmt.Errorf("-target must be smsfleet or kannel, got %q", o.Target)
	case o.URL == "":
		return errors.New("-url is required")
	case o.Mode != ModeSingle && o.Mode != ModeBulk && o.Mode != ModeOTPUnderBulk:
		return fmt.Errorf("-mode must be single, bulk or otp-under-bulk, got %q", o.Mode)
	case o.Target == TargetKannel && o.Mode != ModeSingle:
		return errors.New("-target kannel supports -mode single only (Kannel has no bulk message)")
	case o.Target == TargetKannel && o.KannelLog == "":
		return errors.New("-kannel-log is required with -target kannel (the fake SMSC's log)")
	case o.Target == TargetKannel && !strings.Contains(o.Auth, ":"):
		return errors.New("-auth must be user:password with -target kannel")
	case o.Target == TargetSmsfleet && (o.App == "" || o.Auth == ""):
		return errors.New("-app and -auth are required")
	}
	return nil
}

// validateCounts checks the run's sizes and its timeout.
func (o *Options) validateCounts() error {
	switch {
	case o.N < 1:
		return fmt.Errorf("-n must be positive, got %d", o.N)
	case o.C < 1:
		return fmt.Errorf("-c must be positive, got %d", o.C)
	case o.Mode == ModeOTPUnderBulk && o.OTPs < 1:
		return fmt.Errorf("-otps must be positive, got %d", o.OTPs)
	case o.Timeout <= 0:
		return fmt.Errorf("-timeout must be positive, got %s", o.Timeout)
	}
	return nil
}

// Result is what a run measured. Rates are per second of wall clock;
// latencies are in milliseconds.
type Result struct {
	Target string `json:"target"`
	Mode   string `json:"mode"`
	N      int    `json:"n"`
	C      int    `json:"c"`

	Registered      int     `json:"registered"`
	RegisterSeconds float64 `json:"register_seconds"`

	// Accepted is how many SMS the API accepted, over AcceptSeconds (from
	// the first request to the last answer).
	Accepted       int     `json:"accepted"`
	Failed         int     `json:"failed"`
	FirstFailure   string  `json:"first_failure,omitempty"`
	AcceptSeconds  float64 `json:"accept_seconds"`
	AcceptedPerSec float64 `json:"accepted_per_sec"`
	// Arrived is how many of them reached the provider, over
	// EndToEndSeconds (from the first request to the last arrival or the
	// last answer, whichever came later).
	Arrived         int     `json:"arrived"`
	EndToEndSeconds float64 `json:"end_to_end_seconds"`
	EndToEndPerSec  float64 `json:"end_to_end_per_sec"`
	TimedOut        bool    `json:"timed_out,omitempty"`

	// Request is the latency of the sending requests.
	Request Latency `json:"request_ms"`
	// APIToProvider is, per SMS, its arrival at the provider minus the
	// moment its request was answered (negative when the worker sent it
	// before the answer reached the client).
	APIToProvider Latency `json:"api_to_provider_ms"`

	OTP   *OTPResult `json:"otp,omitempty"`
	Redis *RedisCost `json:"redis,omitempty"`
	// RedisNodes is each node's cost when -redis named more than one.
	RedisNodes []RedisCost `json:"redis_nodes,omitempty"`
}

// OTPResult is the OTP part of ModeOTPUnderBulk.
type OTPResult struct {
	Sent          int     `json:"sent"`
	Arrived       int     `json:"arrived"`
	Request       Latency `json:"request_ms"`
	APIToProvider Latency `json:"api_to_provider_ms"`
}

// Run runs one benchmark against a running fleet (or Kannel): it
// registers the devices, sends, waits for the SMS at the provider and
// reads the latencies and Redis cost (one function per phase below).
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	phones, _ := Phones(o.Prefix, o.N+o.OTPs)
	r := &runner{o: o, client: newClient(o.C)}
	res := Result{Target: o.Target, Mode: o.Mode, N: o.N, C: o.C}

	counter, closeCounter, err := r.prepare(ctx, phones, &res)
	if err != nil {
		return res, err
	}
	defer closeCounter()
	var rc *redisCounter
	if o.Redis != "" {
		if rc, err = startRedis(ctx, o.Redis); err != nil {
			return res, err
		}
		defer rc.close()
	}
	// The simulator's clock, not ours, stamps arrivals; a second of slack
	// keeps a small skew from hiding the first ones (the prefix keeps other
	// runs out).
	began := time.Now()
	if s, ok := counter.(*simCounter); ok {
		s.since = began.Add(-time.Second)
	}
	answered := make([]time.Time, len(phones))
	otpRes := r.sendAll(ctx, phones, answered, &res)
	res.AcceptSeconds = time.Since(began).Seconds()
	res.AcceptedPerSec = rate(res.Accepted, res.AcceptSeconds)

	want := res.Accepted
	if otpRes != nil {
		want += otpRes.Sent
	}
	o.Progress("waiting for %d SMS at the provider", want)
	n, last, err := waitArrivals(ctx, counter, want)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return res, err
	}
	res.TimedOut = n < want
	res.Arrived = n
	if !last.IsZero() {
		res.EndToEndSeconds = last.Sub(began).Seconds()
	}

	// Arrival times are read with a fresh deadline so a timed-out run
	// still reports what did arrive.
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	at, err := counter.times(rctx, len(phones))
	if err != nil {
		return res, err
	}
	otpArrived := r.latencies(at, phones, answered, began, otpRes, &res)
	// The run is done when every SMS was both answered and delivered: an
	// SMS can reach the provider before its answer reaches the client.
	res.EndToEndSeconds = max(res.EndToEndSeconds, res.AcceptSeconds)
	res.EndToEndPerSec = rate(res.Arrived, res.EndToEndSeconds)
	if rc != nil {
		total, nodes, err := rc.finish(rctx, res.Arrived+otpArrived)
		if err != nil {
			return res, err
		}
		res.Redis, res.RedisNodes = &total, nodes
	}
	return res, nil
}

// prepare returns what counts arrivals: Kannel's fake SMSC log, or the
// simulator once every phone is registered as a device.
func (r *runner) prepare(ctx context.Context, phones []string, res *Result) (arrivalCounter, func(), error) {
	o := r.o
	if o.Target == TargetKannel {
		k, err := tailKannel(ctx, o.KannelLog, o.Prefix)
		if err != nil {
			return nil, nil, err
		}
		return k, k.close, nil
	}
	o.Progress("registering %d devices with %d clients", len(phones), o.C)
	began := time.Now()
	reg := r.parallel(ctx, len(phones), func(ctx context.Context, i int) error { return r.register(ctx, phones[i]) })
	res.Registered, res.RegisterSeconds = reg.ok, time.Since(began).Seconds()
	if reg.failed > 0 {
		return nil, nil, fmt.Errorf("registerDevice: %d of %d failed, first: %s", reg.failed, len(phones), reg.first)
	}
	return &simCounter{r: r, prefix: o.Prefix}, func() {}, nil
}

// sendAll sends the run's messages, stamping when each phone's request
// was answered, and fills the acceptance counts; in ModeOTPUnderBulk it
// returns the OTPs' part.
func (r *runner) sendAll(ctx context.Context, phones []string, answered []time.Time, res *Result) *OTPResult {
	o := r.o
	bulk, otps := phones[:o.N], phones[o.N:]
	if o.Mode == ModeSingle {
		o.Progress("sending %d single-recipient messages with %d clients", o.N, o.C)
		st := r.parallel(ctx, o.N, func(ctx context.Context, i int) error {
			err := r.send(ctx, bulk[i:i+1])
			answered[i] = time.Now()
			return err
		})
		res.Accepted, res.Failed, res.FirstFailure, res.Request = st.ok, st.failed, st.first, st.latency()
		return nil
	}
	o.Progress("sending one message to %d devices", o.N)
	t0 := time.Now()
	err := r.send(ctx, bulk)
	t1 := time.Now()
	for i := range bulk {
		answered[i] = t1
	}
	res.Request = latencyOf([]time.Duration{t1.Sub(t0)})
	if err != nil {
		res.Failed, res.FirstFailure = o.N, err.Error()
	} else {
		res.Accepted = o.N
	}
	if o.Mode != ModeOTPUnderBulk {
		return nil
	}
	o.Progress("sending %d OTPs one at a time during the bulk", o.OTPs)
	return r.sendOTPs(ctx, otps, answered[o.N:])
}

// latencies fills the API→provider latencies from the arrival times at
// (by phone), and for ModeOTPUnderBulk the OTPs' part, counting the bulk's
// arrivals per phone and ending its end-to-end time at its last arrival.
// It returns how many OTPs arrived.
func (r *runner) latencies(at map[string]time.Time, phones []string, answered []time.Time, began time.Time, otpRes *OTPResult, res *Result) int {
	n := r.o.N
	var lat, otpLat []time.Duration
	var lastBulk time.Time
	for i, ph := range phones {
		t, ok := at[ph]
		if !ok || answered[i].IsZero() {
			continue
		}
		if i >= n {
			otpLat = append(otpLat, t.Sub(answered[i]))
			continue
		}
		lat = append(lat, t.Sub(answered[i]))
		if t.After(lastBulk) {
			lastBulk = t
		}
	}
	res.APIToProvider = latencyOf(lat)
	if otpRes == nil {
		return 0
	}
	res.Arrived = len(lat)
	otpRes.Arrived = len(otpLat)
	otpRes.APIToProvider = latencyOf(otpLat)
	res.OTP = otpRes
	if len(lat) > 0 {
		res.EndToEndSeconds = lastBulk.Sub(began).Seconds()
	}
	return len(otpLat)
}

// waitArrivals polls counter until want SMS arrived or ctx ends, and
// returns the count and the last arrival.
func waitArrivals(ctx context.Context, counter arrivalCounter, want int) (int, time.Time, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, last, err := counter.count(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return n, last, ctx.Err()
			}
			return n, last, err
		}
		if n >= want {
			return n, last, nil
		}
		select {
		case <-ctx.Done():
			return n, last, ctx.Err()
		case <-tick.C:
		}
	}
}

func rate(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// stats is what a parallel phase saw.
type stats struct {
	ok, failed int
	first      string
	durations  []time.Duration
}

func (s stats) latency() Latency { return latencyOf(s.durations) }

// parallel runs do for 0..n-1 from o.C goroutines and times each call.
func (r *runner) parallel(ctx context.Context, n int, do func(ctx context.Context, i int) error) stats {
	var next atomic.Int64
	durations := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for range min(r.o.C, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				errs[i] = do(ctx, i)
				durations[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	var s stats
	for i := range n {
		switch {
		case durations[i] == 0 && errs[i] == nil:
			// never ran: the run's deadline passed first
		case errs[i] != nil:
			s.failed++
			if s.first == "" {
				s.first = errs[i].Error()
			}
		default:
			s.ok++
			s.durations = append(s.durations, durations[i])
		}
	}
	return s
}

func newClient(c int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// One kept-alive connection per client, as a load generator with C
	// users has.
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 2*c+8, c+4
	return &http.Client{Transport: t, Timeout: 60 * time.Second}
}
