package inbound

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/smsfleet/smsfleet/internal/config"
)

// Keywords a reply can be, for one application.
const (
	KeywordStop  = "stop"
	KeywordStart = "start"
	KeywordHelp  = "help"
)

// Keywords tells what a reply asks of an application: the fleet-wide STOP
// and START words (SMSFLEET_INBOUND_STOP_WORDS, _START_WORDS) and the
// application's own (config.ApplicationInbound). config checks at start-up
// that no word means two things.
type Keywords struct {
	stop, start map[string]bool
	apps        func(app string) config.ApplicationInbound
}

// NewKeywords returns the keywords of the fleet-wide words and each
// application's settings (apps may be nil: fleet-wide words only).
func NewKeywords(stop, start []string, apps func(app string) config.ApplicationInbound) *Keywords {
	if apps == nil {
		apps = func(string) config.ApplicationInbound { return config.ApplicationInbound{} }
	}
	return &Keywords{stop: words(stop), start: words(start), apps: apps}
}

func words(ws []string) map[string]bool {
	out := make(map[string]bool, len(ws))
	for _, w := range ws {
		out[strings.ToUpper(w)] = true
	}
	return out
}

func has(ws []string, w string) bool {
	for _, x := range ws {
		if strings.EqualFold(x, w) {
			return true
		}
	}
	return false
}

// Of is what text asks of app: KeywordStop, KeywordStart, KeywordHelp
// (only when the application has a help text) or "" (a message).
func (k *Keywords) Of(app, text string) string {
	w := Word(text)
	in := k.apps(app)
	switch {
	case k.stop[w] || has(in.StopWords, w):
		return KeywordStop
	case k.start[w] || has(in.StartWords, w):
		return KeywordStart
	case in.HelpText != "" && has(in.HelpWords, w):
		return KeywordHelp
	}
	return ""
}

// Fleet is what text asks by the fleet-wide words alone: what an
// unmatched reply is recorded as.
func (k *Keywords) Fleet(text string) string {
	w := Word(text)
	switch {
	case k.stop[w]:
		return KeywordStop
	case k.start[w]:
		return KeywordStart
	}
	return ""
}

// Word is a reply's text as a keyword candidate, upper-cased: NFKC folds
// compatibility forms (fullwidth ＳＴＯＰ, ligatures) to their plain
// letters; format characters (zero-width space and joiners, BOM, bidi
// marks: Unicode category Cf) are invisible and dropped; surrounding
// spaces and punctuation are trimmed.
func Word(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, norm.NFKC.String(text))
	return strings.ToUpper(strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }))
}
