// Package render implements Pushwoosh "Dynamic Content" placeholders for
// SMS text: {Tag|Modifier|Default}.
//
// A message text is parsed once, when the request is accepted, so a broken
// template is rejected at intake with a position the API client can act on
// instead of failing for every recipient at send time. The parsed Template
// is immutable and is rendered once per recipient by the workers, possibly
// from many goroutines at once; rendering therefore does no parsing, no
// regexp matching and no map lookups of modifier names.
//
// The three placeholder forms follow the Pushwoosh developer guide
// (https://docs.pushwoosh.com/developer/guides/personalization/dynamic-content):
//
//	{Tag|Modifier|Default}  missing tag -> Default, verbatim
//	{Tag|Modifier|}         missing tag -> "" (our choice; see below)
//	{Tag|Modifier}          missing tag -> the recipient is skipped (ErrMissingTag)
//
// The guide says that for {Tag|Modifier|} an untagged user gets the message
// "as is", placeholder text included. Sending "{Name|CapitalizeFirst|}" to a
// phone as an SMS is never what the sender wants, so this package renders an
// empty string instead.
//
// Anything that is not a well-formed placeholder attempt is literal text, so
// ordinary braces in a message ("{}", "{Tag}", "{"a":1}", a lone "}") pass
// through unchanged. A placeholder attempt is "{", a tag name (one or more
// characters, none of "{", "}" or "|", not starting with white space) and
// "|". Only an attempt that is never closed is an error, because that is
// almost certainly a typo that would otherwise leak template syntax to
// every recipient.
package render

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrMissingTag is wrapped by the error Render returns when a placeholder
// without a default part ({Tag|Modifier}) names a tag the recipient does not
// have. Pushwoosh's rule for that form is "ignore non-tagged users", so the
// caller should skip the recipient rather than treat the message as failed.
var ErrMissingTag = errors.New("missing tag")

// ParseError reports a broken template. Pos is the 1-based position, counted
// in characters (runes) rather than bytes, of the opening brace of the
// offending placeholder: API clients count characters, and message texts are
// routinely non-ASCII.
type ParseError struct {
	Pos int
	Msg string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s at position %d", e.Msg, e.Pos)
}

// Template is a parsed message text. It is immutable after Parse and safe
// for concurrent use.
type Template struct {
	text  string // the original text; rendered as is when static
	parts []part
	tags  []string
}

// part is either a literal run of text (placeholder == false) or a
// placeholder. Literal runs are slices of the original text, so a template
// renders byte-for-byte identical text wherever there is no placeholder.
type part struct {
	literal     string
	placeholder bool
	tag         string
	modifier    modifier // nil: value unchanged (empty or unknown modifier)
	hasDefault  bool
	def         string
}

// Parse parses a message text. The only error is *ParseError, for a
// placeholder attempt with no closing brace before the next "{" or the end
// of the text.
func Parse(text string) (*Template, error) {
	t := &Template{text: text}
	litStart := 0 // start of the literal run not yet emitted
	i := 0        // scan position
	for i < len(text) {
		j := strings.IndexByte(text[i:], '{')
		if j < 0 {
			break
		}
		open := i + j
		rest := text[open+1:]

		// Is this a placeholder attempt: "{" tag "|"? The delimiters are
		// ASCII, so byte scanning never splits a multi-byte character.
		p := strings.IndexAny(rest, "{}|")
		if p <= 0 || rest[p] != '|' || startsWithSpace(rest) {
			// Not an attempt: this brace is literal text. Keep scanning
			// right after it, so "{{Name|x}" still finds the placeholder.
			i = open + 1
			continue
		}
		rawTag := rest[:p]
		bodyStart := open + 1 + p + 1

		q := strings.IndexAny(text[bodyStart:], "{}")
		if q < 0 || text[bodyStart+q] == '{' {
			return nil, &ParseError{
				Pos: utf8.RuneCountInString(text[:open]) + 1,
				Msg: "unterminated placeholder",
			}
		}
		closeAt := bodyStart + q
		body := text[bodyStart:closeAt]

		ph := part{placeholder: true, tag: strings.TrimSpace(rawTag)}
		if k := strings.IndexByte(body, '|'); k >= 0 {
			// The default runs to the closing brace and may contain "|".
			ph.modifier = lookupModifier(strings.TrimSpace(body[:k]))
			ph.def = body[k+1:]
			ph.hasDefault = true
		} else {
			ph.modifier = lookupModifier(strings.TrimSpace(body))
		}

		if open > litStart {
			t.parts = append(t.parts, part{literal: text[litStart:open]})
		}
		t.parts = append(t.parts, ph)
		t.addTag(ph.tag)
		litStart = closeAt + 1
		i = closeAt + 1
	}
	if len(t.tags) > 0 && litStart < len(text) {
		t.parts = append(t.parts, part{literal: text[litStart:]})
	}
	return t, nil
}

// MustParse is Parse that panics on error, for tests and constant templates.
func MustParse(text string) *Template {
	t, err := Parse(text)
	if err != nil {
		panic("render: " + err.Error())
	}
	return t
}

func (t *Template) addTag(tag string) {
	for _, have := range t.tags {
		if have == tag {
			return
		}
	}
	t.tags = append(t.tags, tag)
}

func startsWithSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// Static reports whether the text has no placeholder. Callers use it to
// send one text to every recipient without looking up any tags.
func (t *Template) Static() bool { return len(t.tags) == 0 }

// Tags returns the tag names the template uses, trimmed, deduplicated, in
// order of first use, so the caller can fetch exactly those tags per
// recipient. The slice is a copy; changing it does not affect t.
func (t *Template) Tags() []string {
	if len(t.tags) == 0 {
		return nil
	}
	return append([]string(nil), t.tags...)
}

// Render renders the text for one recipient. lookup returns a tag's value
// and whether the recipient has the tag; a nil lookup means the recipient
// has no tags. loc is the recipient's time zone for the date modifiers; nil
// means UTC.
//
// When a placeholder without a default part names a missing tag, Render
// returns an error wrapping ErrMissingTag that names the tag, and the
// recipient should be skipped.
func (t *Template) Render(lookup func(tag string) (string, bool), loc *time.Location) (string, error) {
	if len(t.tags) == 0 {
		return t.text, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	// Values are usually about as long as the placeholders they replace,
	// so the text length is a good first guess for the output size.
	buf := make([]byte, 0, len(t.text)+16)
	for i := range t.parts {
		p := &t.parts[i]
		if !p.placeholder {
			buf = append(buf, p.literal...)
			continue
		}
		var (
			v  string
			ok bool
		)
		if lookup != nil {
			v, ok = lookup(p.tag)
		}
		switch {
		case ok && p.modifier != nil:
			buf = p.modifier(buf, v, loc)
		case ok:
			buf = append(buf, v...)
		case p.hasDefault:
			// Pushwoosh applies the modifier to tag values only; the
			// default is written by the sender exactly as it should read.
			buf = append(buf, p.def...)
		default:
			return "", fmt.Errorf("render: %w %q", ErrMissingTag, p.tag)
		}
	}
	return string(buf), nil
}
