// Package authguard makes authentication failures visible and expensive
// (issue 13, item 10): each refused token or password is counted
// (smsfleet_auth_failures_total), logged at warn with the source address
// and, when known, the application (never the token or password; the log
// is rate-limited so a flood cannot fill the disk), and charged to its
// source's failure budget. A source that spent its budget gets 429 with
// Retry-After before its credentials are even looked at, so guessing is
// slowed to the budget's refill rate; nothing waits on the server side.
//
// The budget is a token bucket per source (golang.org/x/time/rate, driven
// by an injected clock): Failures may fail at once, then one more every
// Window/Failures. Sources are IPv4 addresses and IPv6 /64 prefixes (one
// host usually holds a whole /64). The table of sources is an LRU of
// bounded size, so a flood from many addresses costs bounded memory (at
// the price of forgetting the least recently failing ones).
package authguard

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/smsfleet/smsfleet/internal/metrics"
)

// The reasons a failure is counted under (the metric's reason label).
const (
	// Missing: no credentials at all. Counted and logged, but not charged
	// to the budget: nothing was guessed (and a browser's first request to
	// the monitor always carries none).
	Missing = "missing"
	// Unknown: a token no application has.
	Unknown = "unknown"
	// WrongApp: a valid token of another application.
	WrongApp = "wrong_app"
	// TooWeak: a device token where the server token is needed.
	TooWeak = "too_weak"
	// WrongPassword: the monitor's basic auth did not match.
	WrongPassword = "wrong_password"
)

// DefaultMaxSources bounds the table of sources.
const DefaultMaxSources = 10_000

// Log rate: a burst of logBurst lines, then one per logEvery; the lines
// in between are counted in the next line's "suppressed" field.
const (
	logBurst = 10
	logEvery = time.Second
)

// Options configure a Guard.
type Options struct {
	// Surface names what is guarded: "api" or "monitor".
	Surface string
	// Failures is each source's budget: how many failures it may have in
	// a row before it is refused; 0 turns the throttle off (failures are
	// still counted and logged).
	Failures int
	// Window is how long a spent budget takes to refill completely.
	Window time.Duration
	// MaxSources bounds the sources remembered (0: DefaultMaxSources).
	MaxSources int
	// Now is the clock (nil: time.Now); tests inject one.
	Now func() time.Time
	Log *zap.Logger
}

// Guard counts, logs and throttles one surface's authentication failures.
// It is safe for concurrent use.
type Guard struct {
	o       Options
	every   rate.Limit
	mu      sync.Mutex
	sources *lru.Cache[netip.Prefix, *rate.Limiter]
	logLim  *rate.Limiter
	// suppressed counts failures not logged since the last line.
	suppressed int
}

// New returns a Guard.
func New(o Options) *Guard {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.MaxSources <= 0 {
		o.MaxSources = DefaultMaxSources
	}
	if o.Failures < 0 || o.Window <= 0 {
		o.Failures = 0
	}
	g := &Guard{o: o, logLim: rate.NewLimiter(rate.Every(logEvery), logBurst)}
	if o.Failures > 0 {
		g.every = rate.Every(o.Window / time.Duration(o.Failures))
	}
	g.sources, _ = lru.New[netip.Prefix, *rate.Limiter](o.MaxSources)
	for _, reason := range []string{Missing, Unknown, WrongApp, TooWeak, WrongPassword} {
		metrics.AuthFailures.WithLabelValues(o.Surface, reason)
	}
	metrics.AuthThrottled.WithLabelValues(o.Surface)
	return g
}

// Throttled reports whether r's source has spent its failure budget and,
// if so, how long until it may try again. A throttled request is counted;
// the caller answers 429 with Retry-After without looking at its
// credentials.
func (g *Guard) Throttled(r *http.Request) (retryAfter time.Duration, throttled bool) {
	if g == nil || g.o.Failures == 0 {
		return 0, false
	}
	src, ok := source(r)
	if !ok {
		return 0, false
	}
	now := g.o.Now()
	g.mu.Lock()
	lim, found := g.sources.Get(src)
	var tokens float64
	if found {
		tokens = lim.TokensAt(now)
	}
	g.mu.Unlock()
	if !found || tokens >= 1 {
		return 0, false
	}
	metrics.AuthThrottled.WithLabelValues(g.o.Surface).Inc()
	wait := time.Duration(math.Ceil((1 - tokens) / float64(g.every) * float64(time.Second)))
	return max(wait, time.Second), true
}

// Fail records one authentication failure of r for reason; app is the
// application the request named or the token belongs to ("" when
// unknown). It never sees the credentials themselves.
func (g *Guard) Fail(r *http.Request, reason, app string) {
	if g == nil {
		return
	}
	metrics.AuthFailures.WithLabelValues(g.o.Surface, reason).Inc()
	now := g.o.Now()
	src, ok := source(r)
	if ok && reason != Missing && g.o.Failures > 0 {
		g.mu.Lock()
		lim, found := g.sources.Get(src)
		if !found {
			lim = rate.NewLimiter(g.every, g.o.Failures)
			g.sources.Add(src, lim)
		}
		lim.AllowN(now, 1)
		g.mu.Unlock()
	}
	g.mu.Lock()
	if !g.logLim.AllowN(now, 1) {
		g.suppressed++
		g.mu.Unlock()
		return
	}
	suppressed := g.suppressed
	g.suppressed = 0
	g.mu.Unlock()
	fields := []zap.Field{zap.String("surface", g.o.Surface), zap.String("reason", reason),
		zap.String("remote", remoteIP(r)), zap.String("path", r.URL.Path)}
	if app != "" {
		fields = append(fields, zap.String("application", app))
	}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	g.o.Log.Warn("authentication failed", fields...)
}

// RetryAfterSeconds is d as a Retry-After value: whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// source is the budget key of r: its remote IPv4 address, or the /64 of
// its IPv6 address.
func source(r *http.Request) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = ap.Addr()
	} else if addr, err = netip.ParseAddr(r.RemoteAddr); err != nil {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	return p, err == nil
}

// remoteIP is r's remote address without its port, for the log.
func remoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
