package logging

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"
)

// RateLimited is a logger for libraries that log the same failure in a
// loop (asynq logs about 20 errors a second, each with a stack trace,
// while Redis is down). It satisfies asynq.Logger. Each distinct message
// (per level, digits ignored so ports and counts do not make it new)
// passes at most once per Every; the repeats dropped meanwhile are
// counted and reported as "repeats_dropped" on the next line that passes.
// Fatal always passes. Lines carry no stack trace: the library's own
// message says what failed, the wrapper's stack says nothing.
type RateLimited struct {
	log   *zap.SugaredLogger
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	keys    map[string]*limited
	dropped atomic.Int64
}

type limited struct {
	lim     *rate.Limiter
	dropped int
}

// maxKeys bounds the messages remembered; past it they start afresh.
const maxKeys = 1024

// NewRateLimited wraps log: each distinct message at most once per every.
// now is the clock (nil: time.Now).
func NewRateLimited(log *zap.Logger, every time.Duration, now func() time.Time) *RateLimited {
	if now == nil {
		now = time.Now
	}
	return &RateLimited{
		log:   log.WithOptions(zap.AddStacktrace(zapcore.FatalLevel), zap.AddCallerSkip(2)).Sugar(),
		every: every, now: now, keys: map[string]*limited{},
	}
}

// Dropped is how many lines were dropped as repeats so far.
func (r *RateLimited) Dropped() int64 { return r.dropped.Load() }

// Debug implements asynq.Logger.
func (r *RateLimited) Debug(args ...any) { r.emit(zapcore.DebugLevel, args) }

// Info implements asynq.Logger.
func (r *RateLimited) Info(args ...any) { r.emit(zapcore.InfoLevel, args) }

// Warn implements asynq.Logger.
func (r *RateLimited) Warn(args ...any) { r.emit(zapcore.WarnLevel, args) }

// Error implements asynq.Logger.
func (r *RateLimited) Error(args ...any) { r.emit(zapcore.ErrorLevel, args) }

// Fatal implements asynq.Logger: never dropped.
func (r *RateLimited) Fatal(args ...any) { r.log.Fatal(args...) }

func (r *RateLimited) emit(lvl zapcore.Level, args []any) {
	if !r.log.Desugar().Core().Enabled(lvl) {
		return
	}
	msg := fmt.Sprint(args...)
	key := lvl.String() + "\x00" + maskDigits(msg)
	r.mu.Lock()
	l, ok := r.keys[key]
	if !ok {
		if len(r.keys) >= maxKeys {
			r.keys = map[string]*limited{}
		}
		l = &limited{lim: rate.NewLimiter(rate.Every(r.every), 1)}
		r.keys[key] = l
	}
	if !l.lim.AllowN(r.now(), 1) {
		l.dropped++
		r.mu.Unlock()
		r.dropped.Add(1)
		return
	}
	dropped := l.dropped
	l.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		r.log.Logw(lvl, msg, "repeats_dropped", dropped)
		return
	}
	r.log.Logw(lvl, msg)
}

// maskDigits replaces every run of digits with one '#'.
func maskDigits(s string) string {
	var b strings.Builder
	inRun := false
	for _, c := range s {
		if c >= '0' && c <= '9' {
			if !inRun {
				b.WriteByte('#')
			}
			inRun = true
			continue
		}
		inRun = false
		b.WriteRune(c)
	}
	return b.String()
}
