package config

import (
	"fmt"
	"time"
)

// Keyword answers are SMS at the fleet's cost, sent to whoever texts a
// keyword: a phone (or an attacker spoofing many numbers) texting HELP a
// thousand times must not get a thousand answers. Each application's
// answers are throttled per (phone, keyword), fleet-wide in Redis
// (store.AdmitAnswer): at most Max answers in any window of Per. The
// keyword's effect (an opt-out, an opt-in) applies every time; only the
// answer is skipped, counted and recorded on the stored reply.
//
//	inbound:
//	  answer_limits:
//	    help:  {max: 1, per: 10m}   # the defaults
//	    stop:  {max: 1, per: 1h}
//	    start: {max: 1, per: 1h}

// AnswerLimit is at most Max answers to one phone's keyword in any window
// of Per; the zero value is the keyword's default (DefaultAnswerLimits).
type AnswerLimit struct {
	Max int
	Per time.Duration
}

// AnswerLimits are an application's limits per keyword.
type AnswerLimits struct {
	Help, Stop, Start AnswerLimit
}

// DefaultAnswerLimits: one HELP answer per phone per 10 minutes (a
// second HELP soon after is most likely a repeat), one STOP or START
// confirmation per phone per hour (what carriers ask: confirm once, do
// not argue with a phone that keeps texting STOP).
var DefaultAnswerLimits = AnswerLimits{
	Help:  AnswerLimit{Max: 1, Per: 10 * time.Minute},
	Stop:  AnswerLimit{Max: 1, Per: time.Hour},
	Start: AnswerLimit{Max: 1, Per: time.Hour},
}

// Bounds of an answer limit: a window below a minute throttles nothing a
// flood would notice; one above a week would keep a phone's throttle
// (its key's TTL) past any sensible retention.
const (
	MaxAnswersPerWindow = 100
	MinAnswerWindow     = time.Minute
	MaxAnswerWindow     = 7 * 24 * time.Hour
)

// FileAnswerLimit is AnswerLimit as the file spells it ("per" a Go
// duration such as 10m or 1h).
type FileAnswerLimit struct {
	Max int    `yaml:"max"`
	Per string `yaml:"per"`
}

// FileAnswerLimits are the file's answer_limits block.
type FileAnswerLimits struct {
	Help  *FileAnswerLimit `yaml:"help"`
	Stop  *FileAnswerLimit `yaml:"stop"`
	Start *FileAnswerLimit `yaml:"start"`
}

// limits reads the block; a bad value is an error naming its field, so a
// typo stops start-up rather than leaving answers unthrottled.
func (f *FileAnswerLimits) limits() (AnswerLimits, error) {
	var out AnswerLimits
	if f == nil {
		return out, nil
	}
	for _, l := range []struct {
		name string
		in   *FileAnswerLimit
		to   *AnswerLimit
	}{{"help", f.Help, &out.Help}, {"stop", f.Stop, &out.Stop}, {"start", f.Start, &out.Start}} {
		if l.in == nil {
			continue
		}
		per, err := time.ParseDuration(l.in.Per)
		if err != nil {
			return AnswerLimits{}, fmt.Errorf("answer_limits.%s.per: %q is not a duration such as 10m", l.name, l.in.Per)
		}
		*l.to = AnswerLimit{Max: l.in.Max, Per: per}
		if err := l.to.validate(); err != nil {
			return AnswerLimits{}, fmt.Errorf("answer_limits.%s.%w", l.name, err)
		}
	}
	return out, nil
}

func (l AnswerLimit) validate() error {
	if l.Max < 1 || l.Max > MaxAnswersPerWindow {
		return fmt.Errorf("max: must be from 1 to %d, got %d (to answer nothing, leave the keyword's text unset)", MaxAnswersPerWindow, l.Max)
	}
	if l.Per < MinAnswerWindow || l.Per > MaxAnswerWindow {
		return fmt.Errorf("per: must be from %s to %s, got %s", MinAnswerWindow, MaxAnswerWindow, l.Per)
	}
	return nil
}

// AnswerLimitOf is the limit of keyword kw's answers ("help", "stop",
// "start"), the default where the application sets none; ok is false for
// anything else (a reply that is no keyword is never answered).
func (in ApplicationInbound) AnswerLimitOf(kw string) (AnswerLimit, bool) {
	var own, def AnswerLimit
	switch kw {
	case "help":
		own, def = in.AnswerLimits.Help, DefaultAnswerLimits.Help
	case "stop":
		own, def = in.AnswerLimits.Stop, DefaultAnswerLimits.Stop
	case "start":
		own, def = in.AnswerLimits.Start, DefaultAnswerLimits.Start
	default:
		return AnswerLimit{}, false
	}
	if own == (AnswerLimit{}) {
		return def, true
	}
	return own, true
}
