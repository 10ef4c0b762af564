package config

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ApplicationInbound is one application's two-way SMS settings (issue 17),
// from the configuration file's `inbound:` block of the application:
//
//	inbound:
//	  callback_url: https://shop.example.com/sms/replies   # every reply, signed like status callbacks
//	  stop_words: [ARRET]          # added to SMSFLEET_INBOUND_STOP_WORDS for this application
//	  start_words: [ARRIBA]        # added to SMSFLEET_INBOUND_START_WORDS
//	  help_words: [HELP, INFO]     # the default once help_text is set
//	  help_text: "Shop: reply STOP to stop. Help: shop.example.com"
//	  stop_confirmation: "Shop: you will get no more SMS. Reply START to undo."
//	  start_confirmation: "Shop: you will get our SMS again."
//	  start_blocked_text: "Shop: you asked us not to text you; contact us to change it."
//	  answer_limits: {help: {max: 1, per: 10m}}   # inbound_limits.go
//
// The fleet-wide STOP and START words (config.Inbound) apply to every
// application; the words here are added to them for this one. A keyword
// reply is answered only when its text is set (help_text, the
// confirmations), and is kept and forwarded to callback_url like any reply.
// The struct is named ApplicationInbound because Inbound is the fleet-wide
// keyword setting (SMSFLEET_INBOUND_*).
type ApplicationInbound struct {
	// CallbackURL receives every reply to the application ("" for none),
	// signed with the application's callback secret exactly as status
	// callbacks are (internal/outcomes).
	CallbackURL string
	StopWords   []string
	StartWords  []string
	HelpWords   []string
	// HelpText answers a HELP word ("": HELP is not answered, and its
	// words are not keywords).
	HelpText string
	// StopConfirmation and StartConfirmation answer a STOP or a START,
	// whether or not it changed the application's opt-outs, within
	// AnswerLimits ("": no answer).
	StopConfirmation  string
	StartConfirmation string
	// StartBlockedText answers a START that leaves the phone opted out
	// all the same: START removes only the phone's own STOP, never an
	// opt-out the application set through the API, so "you are opted in"
	// would be a lie. "" (the default): such a START is not answered.
	StartBlockedText string
	// AnswerLimits throttle the answers per phone and keyword (zero: the
	// defaults, inbound_limits.go).
	AnswerLimits AnswerLimits
	// NumberHashKey is the application's number_hash_key when it has
	// hash_numbers (privacy.go), filled in by InboundOf: every reply
	// that leaves for the application (its callback, GET /api/v1/inbound)
	// carries the keyed hash of the phone instead of its number. nil:
	// the number.
	NumberHashKey []byte
	// limitsErr is a bad answer_limits block, reported by Validate with
	// the application's name.
	limitsErr error
}

// FileInbound is ApplicationInbound as the file spells it.
type FileInbound struct {
	CallbackURL       string   `yaml:"callback_url"`
	StopWords         []string `yaml:"stop_words"`
	StartWords        []string `yaml:"start_words"`
	HelpWords         []string `yaml:"help_words"`
	HelpText          string   `yaml:"help_text"`
	StopConfirmation  string   `yaml:"stop_confirmation"`
	StartConfirmation string   `yaml:"start_confirmation"`
	StartBlockedText  string   `yaml:"start_blocked_text"`
	// AnswerLimits: inbound_limits.go.
	AnswerLimits *FileAnswerLimits `yaml:"answer_limits"`
}

// DefaultHelpWords answer help_text when an application names none.
var DefaultHelpWords = []string{"HELP", "INFO"}

// MaxAutoReply bounds an automatic answer's text, in characters: four
// concatenated segments of GSM-7, enough for any carrier's HELP template.
const MaxAutoReply = 612

// application is the file's block as the application's settings; nil
// (no block) is the zero value: replies kept, nothing forwarded or
// answered beyond the fleet-wide keywords.
func (fi *FileInbound) application() *ApplicationInbound {
	if fi == nil {
		return nil
	}
	in := &ApplicationInbound{CallbackURL: strings.TrimSpace(fi.CallbackURL), StopWords: fi.StopWords, StartWords: fi.StartWords,
		HelpWords: fi.HelpWords, HelpText: fi.HelpText, StopConfirmation: fi.StopConfirmation, StartConfirmation: fi.StartConfirmation,
		StartBlockedText: fi.StartBlockedText}
	in.AnswerLimits, in.limitsErr = fi.AnswerLimits.limits()
	if in.HelpText != "" && len(in.HelpWords) == 0 {
		in.HelpWords = DefaultHelpWords
	}
	return in
}

// validateApplicationsInbound checks every application's inbound block
// at start-up: words are single words that mean one thing each (with the
// fleet-wide ones), texts fit an SMS, a callback URL is absolute, https
// unless the application allows http, and signed (a callback secret).
func (c Config) validateApplicationsInbound() error {
	for _, a := range c.Applications {
		if err := c.validateAppInbound(a); err != nil {
			return fmt.Errorf("config: application %s: inbound.%w", a.Code, err)
		}
	}
	return nil
}

func (c Config) validateAppInbound(a Application) error {
	if a.Inbound == nil {
		return nil
	}
	in := *a.Inbound
	for _, check := range []func() error{
		func() error { return c.validateInboundWords(in) },
		in.validateTexts,
		in.validateLimits,
		func() error { return c.validateInboundCallback(a, in.CallbackURL) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateInboundWords checks an application's keywords: single words,
// none meaning two things (with the fleet-wide STOP and START words).
func (c Config) validateInboundWords(in ApplicationInbound) error {
	meaning := map[string]string{}
	for _, w := range c.Inbound.StopWords {
		meaning[strings.ToUpper(w)] = "stop"
	}
	for _, w := range c.Inbound.StartWords {
		meaning[strings.ToUpper(w)] = "start"
	}
	for _, set := range []struct {
		field, kw string
		words     []string
	}{{"stop_words", "stop", in.StopWords}, {"start_words", "start", in.StartWords}, {"help_words", "help", in.HelpWords}} {
		for _, w := range set.words {
			if !inboundWord.MatchString(w) {
				return fmt.Errorf("%s: %q is not a single word of 1 to 32 letters and digits", set.field, w)
			}
			if m, ok := meaning[strings.ToUpper(w)]; ok && m != set.kw {
				return fmt.Errorf("%s: %q is already a %s word", set.field, w, m)
			}
			meaning[strings.ToUpper(w)] = set.kw
		}
	}
	return nil
}

// validateTexts checks the help text and confirmations: UTF-8 that fits
// an SMS, and a help text wherever help words are set.
func (in ApplicationInbound) validateTexts() error {
	if len(in.HelpWords) > 0 && in.HelpText == "" {
		return fmt.Errorf("help_text: required with help_words")
	}
	for _, t := range []struct{ field, text string }{
		{"help_text", in.HelpText}, {"stop_confirmation", in.StopConfirmation}, {"start_confirmation", in.StartConfirmation},
		{"start_blocked_text", in.StartBlockedText},
	} {
		if !utf8.ValidString(t.text) {
			return fmt.Errorf("%s: not valid UTF-8", t.field)
		}
		if n := utf8.RuneCountInString(t.text); n > MaxAutoReply {
			return fmt.Errorf("%s: %d characters, at most %d", t.field, n, MaxAutoReply)
		}
	}
	return nil
}

// validateLimits checks the answer limits: the file's, as read, and any
// set in code (a limit left zero is the default).
func (in ApplicationInbound) validateLimits() error {
	if in.limitsErr != nil {
		return in.limitsErr
	}
	for _, l := range []struct {
		name string
		l    AnswerLimit
	}{{"help", in.AnswerLimits.Help}, {"stop", in.AnswerLimits.Stop}, {"start", in.AnswerLimits.Start}} {
		if l.l == (AnswerLimit{}) {
			continue
		}
		if err := l.l.validate(); err != nil {
			return fmt.Errorf("answer_limits.%s.%w", l.name, err)
		}
	}
	return nil
}

// validateInboundCallback checks an application's inbound callback URL
// ("" for none): absolute, https unless allowed, and signable.
func (c Config) validateInboundCallback(a Application, callback string) error {
	if callback == "" {
		return nil
	}
	u, err := url.Parse(callback)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("callback_url: %q is not an absolute http(s) URL", callback)
	}
	if u.Scheme == "http" && !a.CallbackAllowHTTP && !c.Dev {
		return fmt.Errorf("callback_url: must be https (callback_allow_http allows http), got %q", callback)
	}
	if c.CallbackSecretOf(a.Code) == "" {
		return fmt.Errorf("callback_url: the application has no callback secret to sign its replies with (callback_secret or SMSFLEET_CALLBACK_SECRETS)")
	}
	return nil
}

// InboundOf returns an application's inbound settings (zero for an
// unknown application), with its number hash key when it has
// hash_numbers, so every reply forwarded to it is hashed alike.
func (c Config) InboundOf(app string) ApplicationInbound {
	var in ApplicationInbound
	for _, a := range c.Applications {
		if a.Code == app && a.Inbound != nil {
			in = *a.Inbound
			break
		}
	}
	in.NumberHashKey = c.NumberHashKeyOf(app)
	return in
}
