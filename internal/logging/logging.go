// Package logging builds the zap logger every role uses: JSON in
// production, coloured console in dev.
//
// Sampling: debug and info lines are sampled per message (the first 100
// of a message each second, then one in 100); warnings and errors are
// never sampled, so every failure is in the log (README, "Logging").
package logging

import (
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Sampling of debug and info lines: per message and second, the first
// SampleFirst pass, then one in SampleThereafter.
const (
	SampleFirst      = 100
	SampleThereafter = 100
)

// New returns a logger at level ("debug", "info", "warn", "error") in format
// "json" or "console".
func New(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("SMSFLEET_LOG_LEVEL: %w", err)
	}
	var cfg zap.Config
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	}
	// zap's production sampling drops errors as readily as debug lines
	// (1,749 HTTP 500s were logged as 709 lines): sample below warn only.
	cfg.Sampling = nil
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	log, err := cfg.Build(zap.WrapCore(SampleBelowWarn))
	if err != nil {
		return nil, fmt.Errorf("logger: %w", err)
	}
	return log, nil
}

// SampleBelowWarn samples core's debug and info entries (SampleFirst,
// SampleThereafter per message and second) and passes every warning and
// error through.
func SampleBelowWarn(core zapcore.Core) zapcore.Core {
	return splitCore{Core: core, sampled: zapcore.NewSamplerWithOptions(core, time.Second, SampleFirst, SampleThereafter)}
}

// splitCore writes entries at warn and above to the core itself and the
// rest through its sampler.
type splitCore struct {
	zapcore.Core
	sampled zapcore.Core
}

func (c splitCore) With(fields []zapcore.Field) zapcore.Core {
	return splitCore{Core: c.Core.With(fields), sampled: c.sampled.With(fields)}
}

func (c splitCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level >= zapcore.WarnLevel {
		return c.Core.Check(e, ce)
	}
	return c.sampled.Check(e, ce)
}
