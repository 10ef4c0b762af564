package render

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// everyModifier applies each known modifier to the fuzzed value, so the
// fuzzer exercises the number and date code without having to guess
// modifier names like "m-d-y H:i".
var everyModifier = MustParse("{V|CapitalizeFirst}{V|CapitalizeAllFirst}{V|UPPERCASE}{V|lowercase}" +
	"{V|cent}{V|dollar}{V|euro}{V|jpy}{V|lira}{V|comma}" +
	"{V|M-d-y}{V|m-d-y}{V|M d y}{V|M d Y}{V|l}{V|M d}{V|H:i}{V|m-d-y H:i}")

// FuzzParse checks the invariants the worker relies on: Parse never
// panics and reports an error only at an opening brace; a successfully
// parsed template renders without panicking; static templates render to
// their input byte for byte; text without "{" is always static.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ text, value string }{
		{"", ""},
		{"plain text, no braces", "x"},
		{"Hi {Name|CapitalizeFirst|friend}!", "john"},
		{"{Name|UPPERCASE|}", "élodie"},
		{"{Name|lowercase}", "ÀÉÎ"},
		{"{Amount|dollar|} {Amount|cent|} {Amount|jpy|}", "-999.995"},
		{"{N|comma|0}", "0001234567.890"},
		{"{T|m-d-y H:i|soon}", "1767621900"},
		{"{T|l}", "-9223372036854775808"},
		{"{}{ }{Tag}{|x}}{", "v"},
		{`{"a":1,"b":"x|y"}`, "v"},
		{"{{Name||}}", "v"},
		{"Привет {Имя|x", "v"},
		{"{a{b|c}d|e}", "v"},
		{"{Name||a|b|c}", "\xff\xfe"},
		{"ok {a|b} then 👍{c|", "1e308"},
	} {
		f.Add(seed.text, seed.value)
	}
	zones := []*time.Location{nil, time.FixedZone("minus14", -14*3600), time.FixedZone("plus14", 14*3600)}

	f.Fuzz(func(t *testing.T, text, value string) {
		tp, err := Parse(text)
		if err != nil {
			checkParseError(t, text, err)
			return
		}
		checkStaticAndTags(t, text, tp)
		checkRenders(t, tp, text, value, zones)
	})
}

// checkParseError checks that Parse(text) failed with a *ParseError at an
// opening brace (its position counted in runes), which text must have.
func checkParseError(t *testing.T, text string, err error) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse(%q) error %v is not *ParseError", text, err)
	}
	if !strings.Contains(text, "{") {
		t.Fatalf("Parse(%q) failed without any '{': %v", text, err)
	}
	// Pos must point at an opening brace, counted in runes.
	runes := []rune(text)
	if pe.Pos < 1 || pe.Pos > len(runes) || runes[pe.Pos-1] != '{' {
		t.Fatalf("Parse(%q) error position %d is not an opening brace", text, pe.Pos)
	}
}

// checkStaticAndTags checks that tp, parsed from text, is static exactly
// when it has no tags (always, without any '{'), and that each tag name is
// trimmed and free of braces and bars.
func checkStaticAndTags(t *testing.T, text string, tp *Template) {
	t.Helper()
	if !strings.Contains(text, "{") && !tp.Static() {
		t.Fatalf("Parse(%q) is not static without any '{'", text)
	}
	if tp.Static() != (len(tp.Tags()) == 0) {
		t.Fatalf("Parse(%q): Static() = %v but Tags() = %q", text, tp.Static(), tp.Tags())
	}
	for _, tag := range tp.Tags() {
		if tag == "" || strings.ContainsAny(tag, "{}|") || strings.TrimSpace(tag) != tag {
			t.Fatalf("Parse(%q): bad tag name %q", text, tag)
		}
	}
}

// checkRenders checks that tp, parsed from text, renders with every tag
// set to value in each of zones (a static one to text itself), fails
// with no tags only as ErrMissingTag, never grows with empty values, and
// keeps valid UTF-8 valid; and that every modifier takes value.
func checkRenders(t *testing.T, tp *Template, text, value string, zones []*time.Location) {
	t.Helper()
	all := func(string) (string, bool) { return value, true }
	none := func(string) (string, bool) { return "", false }
	for _, loc := range zones {
		got, err := tp.Render(all, loc)
		if err != nil {
			t.Fatalf("Render(%q) with every tag: %v", text, err)
		}
		if tp.Static() && got != text {
			t.Fatalf("static Render(%q) = %q", text, got)
		}
		if _, err := tp.Render(none, loc); err != nil && (tp.Static() || !errors.Is(err, ErrMissingTag)) {
			t.Fatalf("Render(%q) with no tags: %v", text, err)
		}
		if _, err := everyModifier.Render(all, loc); err != nil {
			t.Fatalf("every modifier on %q: %v", value, err)
		}
	}

	// Literal text survives: with every tag set to "", the output is
	// the input minus the placeholders, so it can never be longer.
	empty := func(string) (string, bool) { return "", true }
	if got, _ := tp.Render(empty, nil); len(got) > len(text) {
		t.Fatalf("Render(%q) with empty values grew to %q", text, got)
	}

	// A valid UTF-8 text and value give a valid UTF-8 message.
	if utf8.ValidString(text) && utf8.ValidString(value) {
		got, _ := tp.Render(all, nil)
		if !utf8.ValidString(got) {
			t.Fatalf("Render(%q, %q) produced invalid UTF-8 %q", text, value, got)
		}
	}
}
