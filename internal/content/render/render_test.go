package render

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests must not depend on the host's zoneinfo
)

// tags builds a lookup from alternating names and values.
func tags(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(tag string) (string, bool) {
		v, ok := m[tag]
		return v, ok
	}
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

const (
	// Mon 2026-01-05 14:05:00 UTC.
	ts = "1767621900"
	// Mon 2026-01-05 03:07:00 UTC: still Sunday evening in New York,
	// already Monday noon in Tokyo.
	tsEarly = "1767582420"
)

type renderCase struct {
	name    string
	tmpl    string
	lookup  func(string) (string, bool)
	loc     *time.Location
	want    string
	missing bool // want an error wrapping ErrMissingTag
}

func runRenderCases(t *testing.T, cases []renderCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp, err := Parse(c.tmpl)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.tmpl, err)
			}
			got, err := tp.Render(c.lookup, c.loc)
			if c.missing {
				if !errors.Is(err, ErrMissingTag) {
					t.Fatalf("Render(%q) = %q, %v; want ErrMissingTag", c.tmpl, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render(%q): %v", c.tmpl, err)
			}
			if got != c.want {
				t.Errorf("Render(%q) = %q, want %q", c.tmpl, got, c.want)
			}
		})
	}
}

func TestRenderPlaceholderForms(t *testing.T) {
	john := tags("Name", "john")
	none := tags()
	runRenderCases(t, []renderCase{
		// {Tag|Modifier|Default}
		{name: "default/present", tmpl: "Hi {Name|CapitalizeFirst|friend}!", lookup: john, want: "Hi John!"},
		{name: "default/missing", tmpl: "Hi {Name|CapitalizeFirst|friend}!", lookup: none, want: "Hi friend!"},
		{name: "default/not modified", tmpl: "{Name|UPPERCASE|dear friend}", lookup: none, want: "dear friend"},
		{name: "default/verbatim spaces", tmpl: "[{Name|| dear friend }]", lookup: none, want: "[ dear friend ]"},
		{name: "default/contains pipes", tmpl: "{Name||a|b|}", lookup: none, want: "a|b|"},
		{name: "default/present empty value", tmpl: "[{Name|UPPERCASE|friend}]", lookup: tags("Name", ""), want: "[]"},
		{name: "default/nil lookup", tmpl: "{Name||friend}", lookup: nil, want: "friend"},

		// {Tag|Modifier|}
		{name: "empty default/present", tmpl: "[{Name|UPPERCASE|}]", lookup: john, want: "[JOHN]"},
		{name: "empty default/missing", tmpl: "[{Name|UPPERCASE|}]", lookup: none, want: "[]"},

		// {Tag|Modifier}
		{name: "skip/present", tmpl: "Hi {Name|UPPERCASE}", lookup: john, want: "Hi JOHN"},
		{name: "skip/missing", tmpl: "Hi {Name|UPPERCASE}", lookup: none, missing: true},
		{name: "skip/nil lookup", tmpl: "Hi {Name|UPPERCASE}", lookup: nil, missing: true},
		{name: "skip/after a default", tmpl: "{Name||x} {City|}", lookup: john, missing: true},

		// empty and unknown modifiers
		{name: "empty modifier/default", tmpl: "{Name||x}", lookup: john, want: "john"},
		{name: "empty modifier/no default", tmpl: "{Name|}", lookup: john, want: "john"},
		{name: "empty modifier/missing", tmpl: "{Name|}", lookup: none, missing: true},
		{name: "unknown modifier", tmpl: "{Name|Shout|x}", lookup: john, want: "john"},
		{name: "modifier names are case-sensitive", tmpl: "{Name|uppercase|x}", lookup: john, want: "john"},

		// trimming
		{name: "tag trimmed", tmpl: "{Name  |UPPERCASE|}", lookup: john, want: "JOHN"},
		{name: "modifier trimmed", tmpl: "{Name|  UPPERCASE\t|}", lookup: john, want: "JOHN"},
		{name: "value not trimmed", tmpl: "[{Name||}]", lookup: tags("Name", " jo "), want: "[ jo ]"},

		{name: "repeated tag", tmpl: "{Name|UPPERCASE|} {Name|lowercase|} {Name|}", lookup: tags("Name", "Jo"), want: "JO jo Jo"},
		{name: "adjacent placeholders", tmpl: "{A||}{B||}{A||}", lookup: tags("A", "1", "B", "2"), want: "121"},
		{name: "unicode template", tmpl: "Привет, {Имя|CapitalizeFirst|друг}! 👋 {Город||}", lookup: tags("Имя", "мария", "Город", "Київ"), want: "Привет, Мария! 👋 Київ"},
		{name: "unicode default", tmpl: "Привет, {Имя|CapitalizeFirst|друг}! 👋", lookup: none, want: "Привет, друг! 👋"},
		{name: "newline in value", tmpl: "a{X||}b", lookup: tags("X", "\n"), want: "a\nb"},
	})
}

func TestRenderLiteralBraces(t *testing.T) {
	jo := tags("Name", "jo", "Tag", "T")
	for _, text := range []string{
		"{}",
		"{ }",
		"{Tag}",
		"{|x}",
		"{||}",
		"}",
		"{",
		"}{",
		"a } b { c",
		`{"a":1}`,
		`{"a":{"b":[1,2]}}`,
		"{ Name|x}",  // a tag name may not start with white space
		"{\tName|x}", // nor with a tab
		"{\nName|x}", // nor with a newline
		"price: {5} {Tag } {{}}",
		"{Name {Tag}}",
		"emoji {🙂} and {日本}",
	} {
		t.Run(text, func(t *testing.T) {
			tp, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(%q): %v", text, err)
			}
			if !tp.Static() {
				t.Errorf("Parse(%q).Static() = false, tags %q", text, tp.Tags())
			}
			got, err := tp.Render(jo, nil)
			if err != nil || got != text {
				t.Errorf("Render(%q) = %q, %v; want the text unchanged", text, got, err)
			}
		})
	}

	// Literal braces next to real placeholders.
	runRenderCases(t, []renderCase{
		{name: "double open", tmpl: "{{Name||}", lookup: jo, want: "{jo"},
		{name: "double close", tmpl: "{Name||}}", lookup: jo, want: "jo}"},
		{name: "doubled both", tmpl: "{{Name||}}", lookup: jo, want: "{jo}"},
		{name: "broken attempt then placeholder", tmpl: "{a{Name||}", lookup: jo, want: "{ajo"},
		{name: "json then placeholder", tmpl: `{"a":1} {Name|UPPERCASE|}`, lookup: jo, want: `{"a":1} JO`},
		{name: "no-pipe tag then placeholder", tmpl: "{Tag} {Tag||}", lookup: jo, want: "{Tag} T"},
		{name: "space-led then placeholder", tmpl: "{ Tag|x} {Tag|x}", lookup: jo, want: "{ Tag|x} T"},
		{name: "closing brace inside default ends it", tmpl: "{Name||a}b}", lookup: tags(), want: "ab}"},
	})
}

func TestRenderTextModifiers(t *testing.T) {
	v := func(s string) func(string) (string, bool) { return tags("V", s) }
	runRenderCases(t, []renderCase{
		{name: "CapitalizeFirst/ascii", tmpl: "{V|CapitalizeFirst}", lookup: v("john smith"), want: "John smith"},
		{name: "CapitalizeFirst/rest unchanged", tmpl: "{V|CapitalizeFirst}", lookup: v("mcDONALD"), want: "McDONALD"},
		{name: "CapitalizeFirst/accented", tmpl: "{V|CapitalizeFirst}", lookup: v("élodie"), want: "Élodie"},
		{name: "CapitalizeFirst/cyrillic", tmpl: "{V|CapitalizeFirst}", lookup: v("юлия"), want: "Юлия"},
		{name: "CapitalizeFirst/title case digraph", tmpl: "{V|CapitalizeFirst}", lookup: v("ǆemal"), want: "ǅemal"},
		{name: "CapitalizeFirst/leading space", tmpl: "{V|CapitalizeFirst}", lookup: v("  john"), want: "  John"},
		{name: "CapitalizeFirst/digit first", tmpl: "{V|CapitalizeFirst}", lookup: v("1st place"), want: "1st place"},
		{name: "CapitalizeFirst/empty", tmpl: "[{V|CapitalizeFirst}]", lookup: v(""), want: "[]"},
		{name: "CapitalizeFirst/invalid utf8", tmpl: "{V|CapitalizeFirst}", lookup: v("\xffjohn"), want: "\xffjohn"},

		{name: "CapitalizeAllFirst/ascii", tmpl: "{V|CapitalizeAllFirst}", lookup: v("jean-luc de la cruz"), want: "Jean-luc De La Cruz"},
		{name: "CapitalizeAllFirst/rest unchanged", tmpl: "{V|CapitalizeAllFirst}", lookup: v("mcDONALD old"), want: "McDONALD Old"},
		{name: "CapitalizeAllFirst/unicode", tmpl: "{V|CapitalizeAllFirst}", lookup: v("élan über\tångström\nöl"), want: "Élan Über\tÅngström\nÖl"},
		{name: "CapitalizeAllFirst/cyrillic", tmpl: "{V|CapitalizeAllFirst}", lookup: v("мария  иванова"), want: "Мария  Иванова"},
		{name: "CapitalizeAllFirst/invalid utf8 is part of a word", tmpl: "{V|CapitalizeAllFirst}", lookup: v("a\xffb c"), want: "A\xffb C"},

		{name: "UPPERCASE/ascii", tmpl: "{V|UPPERCASE}", lookup: v("Hello, World 1"), want: "HELLO, WORLD 1"},
		{name: "UPPERCASE/greek", tmpl: "{V|UPPERCASE}", lookup: v("αθήνα"), want: "ΑΘΉΝΑ"},
		{name: "UPPERCASE/cyrillic", tmpl: "{V|UPPERCASE}", lookup: v("привет"), want: "ПРИВЕТ"},
		{name: "UPPERCASE/emoji and cjk untouched", tmpl: "{V|UPPERCASE}", lookup: v("ok 👍 日本"), want: "OK 👍 日本"},
		{name: "UPPERCASE/invalid utf8 kept", tmpl: "{V|UPPERCASE}", lookup: v("a\xffb"), want: "A\xffB"},

		{name: "lowercase/ascii", tmpl: "{V|lowercase}", lookup: v("HeLLo"), want: "hello"},
		{name: "lowercase/accented", tmpl: "{V|lowercase}", lookup: v("ÀÉÎÕÜ"), want: "àéîõü"},
		{name: "lowercase/cyrillic", tmpl: "{V|lowercase}", lookup: v("ПРИВЕТ"), want: "привет"},
	})
}

func TestRenderNumberModifiers(t *testing.T) {
	type nc struct{ mod, in, want string }
	var cases []renderCase
	for _, c := range []nc{
		{"dollar", "1234.5", "$1,234.50"},
		{"dollar", "0", "$0.00"},
		{"dollar", "7", "$7.00"},
		{"dollar", "999", "$999.00"},
		{"dollar", "1000", "$1,000.00"},
		{"dollar", "-1234.567", "-$1,234.57"},
		{"dollar", "+12.344", "$12.34"},
		{"dollar", "999.995", "$1,000.00"},
		{"dollar", "-0.001", "$0.00"},
		{"dollar", ".5", "$0.50"},
		{"dollar", "5.", "$5.00"},
		{"dollar", "000123", "$123.00"},
		{"dollar", " 12 ", "$12.00"},
		{"dollar", "1234567890123456789012.5", "$1,234,567,890,123,456,789,012.50"},

		{"cent", "123456", "$1,234.56"},
		{"cent", "5", "$0.05"},
		{"cent", "0", "$0.00"},
		{"cent", "12.5", "$0.13"},
		{"cent", "-99", "-$0.99"},
		{"cent", "100000", "$1,000.00"},

		{"euro", "1234.5", "€1,234.50"},
		{"euro", "-3", "-€3.00"},
		{"jpy", "1234.5", "¥1,235"},
		{"jpy", "1234.4", "¥1,234"},
		{"jpy", "999999.5", "¥1,000,000"},
		{"jpy", "-0.4", "¥0"},
		{"lira", "1234.5", "₺1,234.50"},
		{"lira", "1000000", "₺1,000,000.00"},

		{"comma", "1234567", "1,234,567"},
		{"comma", "1234.5678", "1,234.5678"},
		{"comma", "123", "123"},
		{"comma", "-1234", "-1,234"},
		{"comma", "+1234", "1,234"},
		{"comma", "0001234", "1,234"},
		{"comma", "-0", "0"},
		{"comma", ".25", "0.25"},
		{"comma", "1000.", "1,000"},
	} {
		cases = append(cases, renderCase{
			name: c.mod + "/" + c.in, tmpl: "{V|" + c.mod + "}", lookup: tags("V", c.in), want: c.want,
		})
	}
	// A value that is not a plain decimal number is written unchanged.
	for _, mod := range []string{"dollar", "cent", "euro", "jpy", "lira", "comma"} {
		for _, in := range []string{"", "abc", "12a", "1,234", "1e3", "12.3.4", "-", ".", "+.", "NaN", "Inf", "0x1F", "1_000", "١٢٣", "--5"} {
			cases = append(cases, renderCase{
				name: mod + "/unparsable/" + in, tmpl: "[{V|" + mod + "}]", lookup: tags("V", in), want: "[" + in + "]",
			})
		}
	}
	runRenderCases(t, cases)
}

func TestRenderDateModifiers(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	tokyo := mustLoad(t, "Asia/Tokyo")
	type dc struct {
		mod  string
		loc  *time.Location
		in   string
		want string
	}
	var cases []renderCase
	for _, c := range []dc{
		// UTC (nil location).
		{"M-d-y", nil, ts, "Jan-05-26"},
		{"m-d-y", nil, ts, "01-05-26"},
		{"M d y", nil, ts, "Jan 05 26"},
		{"M d Y", nil, ts, "Jan 05 2026"},
		{"l", nil, ts, "Monday"},
		{"M d", nil, ts, "Jan 05"},
		{"H:i", nil, ts, "14:05"},
		{"m-d-y H:i", nil, ts, "01-05-26 14:05"},
		{"m-d-y H:i", time.UTC, ts, "01-05-26 14:05"},
		{"m-d-y H:i", nil, " " + ts + " ", "01-05-26 14:05"},
		{"M d Y", nil, "0", "Jan 01 1970"},
		{"M d Y", nil, "-1", "Dec 31 1969"},

		// New York: the previous evening.
		{"M-d-y", ny, tsEarly, "Jan-04-26"},
		{"m-d-y", ny, tsEarly, "01-04-26"},
		{"M d y", ny, tsEarly, "Jan 04 26"},
		{"M d Y", ny, tsEarly, "Jan 04 2026"},
		{"l", ny, tsEarly, "Sunday"},
		{"M d", ny, tsEarly, "Jan 04"},
		{"H:i", ny, tsEarly, "22:07"},
		{"m-d-y H:i", ny, tsEarly, "01-04-26 22:07"},

		// Tokyo: the same instant, Monday noon.
		{"M-d-y", tokyo, tsEarly, "Jan-05-26"},
		{"l", tokyo, tsEarly, "Monday"},
		{"H:i", tokyo, tsEarly, "12:07"},
		{"m-d-y H:i", tokyo, tsEarly, "01-05-26 12:07"},

		// New York daylight saving time (EDT, UTC-4): 2026-07-01 00:30 UTC.
		{"m-d-y H:i", ny, "1782865800", "06-30-26 20:30"},
	} {
		cases = append(cases, renderCase{
			name: c.mod + "/" + c.in + "/" + c.loc.String(), tmpl: "{V|" + c.mod + "}", lookup: tags("V", c.in), loc: c.loc, want: c.want,
		})
	}
	for _, mod := range []string{"M-d-y", "m-d-y", "M d y", "M d Y", "l", "M d", "H:i", "m-d-y H:i"} {
		for _, in := range []string{"", "soon", "1767621900.5", "1.7e9", "2026-01-05", "99999999999999999999"} {
			cases = append(cases, renderCase{
				name: mod + "/unparsable/" + in, tmpl: "[{V|" + mod + "}]", lookup: tags("V", in), loc: tokyo, want: "[" + in + "]",
			})
		}
	}
	// The default is never formatted as a date.
	cases = append(cases, renderCase{name: "default not formatted", tmpl: "{V|M d Y|" + ts + "}", lookup: tags(), want: ts})
	runRenderCases(t, cases)
}

func TestMissingTagError(t *testing.T) {
	tp := MustParse("Hi {First||} {Last  |UPPERCASE}")
	_, err := tp.Render(tags("First", "a"), nil)
	if !errors.Is(err, ErrMissingTag) {
		t.Fatalf("err = %v, want ErrMissingTag", err)
	}
	if !strings.Contains(err.Error(), `"Last"`) {
		t.Errorf("err = %q, want it to name the tag", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		text string
		pos  int
	}{
		{"Hello {Name|x", 7},
		{"{Name|", 1},
		{"{Name|x|default", 1},
		{"{Name|x|a|b", 1},
		{"{Name|x {Other|y}", 1},       // the next "{" comes before any "}"
		{"ok {a|b} then {c|", 15},      // the first placeholder is fine
		{"{} {Tag} {\"a\":1} {b|", 18}, // literal braces first
		// Multi-byte characters before the brace: rune positions, not bytes.
		{"Привет {Имя|x", 8},        // byte offset would be 14
		{"日本語{Name|x {Other|y}", 4}, // byte offset would be 10
		{"ok {a|b} then 👍{c|", 16},  // the emoji is 4 bytes, 1 character
		{"ǅ\u0301 {x|", 4},          // combining marks count as characters too
	} {
		t.Run(c.text, func(t *testing.T) {
			tp, err := Parse(c.text)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, %v; want *ParseError", c.text, tp, err)
			}
			if pe.Pos != c.pos {
				t.Errorf("Parse(%q) position = %d, want %d", c.text, pe.Pos, c.pos)
			}
			if want := "unterminated placeholder at position " + strconv.Itoa(c.pos); err.Error() != want {
				t.Errorf("Parse(%q) error = %q, want %q", c.text, err.Error(), want)
			}
		})
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse did not panic on a broken template")
		}
	}()
	MustParse("{Name|")
}

func TestStaticAndTags(t *testing.T) {
	for _, c := range []struct {
		text   string
		static bool
		tags   []string
	}{
		{"", true, nil},
		{"plain text", true, nil},
		{"{Tag} {} {|x}", true, nil},
		{"{b|x} {a|} {b||z} { c|y} {c |y}", false, []string{"b", "a", "c"}},
		{"{Имя||} {Имя|UPPERCASE}", false, []string{"Имя"}},
	} {
		tp := MustParse(c.text)
		if tp.Static() != c.static {
			t.Errorf("%q: Static() = %v, want %v", c.text, tp.Static(), c.static)
		}
		got := tp.Tags()
		if strings.Join(got, ",") != strings.Join(c.tags, ",") || len(got) != len(c.tags) {
			t.Errorf("%q: Tags() = %q, want %q", c.text, got, c.tags)
		}
	}

	// Tags returns a copy: the caller cannot corrupt a shared template.
	tp := MustParse("{a||}")
	tp.Tags()[0] = "x"
	if tp.Tags()[0] != "a" {
		t.Error("Tags() exposes the template's own slice")
	}
}

// TestRenderConcurrent is meant for -race: one template, many goroutines,
// different recipients and zones.
func TestRenderConcurrent(t *testing.T) {
	tp := MustParse("Hi {Name|CapitalizeFirst|there}, {Amount|dollar|} due {Due|m-d-y H:i|soon}.")
	zones := []*time.Location{nil, mustLoad(t, "America/New_York"), mustLoad(t, "Asia/Tokyo")}
	want := []string{
		"Hi Ann, $1,234.50 due 01-05-26 03:07.",
		"Hi Ann, $1,234.50 due 01-04-26 22:07.",
		"Hi Ann, $1,234.50 due 01-05-26 12:07.",
	}
	lookup := tags("Name", "ann", "Amount", "1234.5", "Due", tsEarly)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				z := (g + i) % len(zones)
				got, err := tp.Render(lookup, zones[z])
				if err != nil || got != want[z] {
					t.Errorf("Render = %q, %v; want %q", got, err, want[z])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkRender(b *testing.B) {
	tp := MustParse("Hi {Name|CapitalizeFirst|there}, your order {Order||} of {Amount|dollar|} ships {Ship|M d Y|soon}. Reply STOP to opt out.")
	lookup := tags("Name", "maría", "Order", "A-10023", "Amount", "1234.5", "Ship", ts)
	loc := time.UTC
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tp.Render(lookup, loc); err != nil {
			b.Fatal(err)
		}
	}
}
