package sms

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSmartEncode(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"plain gsm unchanged", "Your code is 4711. Don't share it!", "Your code is 4711. Don't share it!"},
		{"gsm with extension chars unchanged", "Price: 10€ [incl. {tax}] ~ ^ | \\", "Price: 10€ [incl. {tax}] ~ ^ | \\"},
		{"gsm non-ascii unchanged", "Straße Ærø ¿Qué? ñ ü Ç £ ¥ § ¤ ¡", "Straße Ærø ¿Qué? ñ ü Ç £ ¥ § ¤ ¡"},
		{"single curly quotes", "Don‘t ‚worry’ ‛x", "Don't 'worry' 'x"},
		{"double curly quotes", "“Hi” „there‟", `"Hi" "there"`},
		{"primes", "5′ 11″", `5' 11"`},
		{"guillemets are not gsm", "«Bonjour» ‹oui›", `"Bonjour" 'oui'`},
		{"acute and backtick", "it´s `code`", "it's 'code'"},
		{"modifier apostrophe", "rockʼn", "rock'n"},
		{"dashes and minus", "a–b—c‒d―e−f‐g‑h", "a-b-c-d-e-f-g-h"},
		{"bullets", "• one\n∙ two\n⁃ three", "- one\n- two\n- three"},
		{"ellipsis", "Wait…", "Wait..."},
		{"no-break space", "10\u00a0km", "10 km"},
		{"unicode spaces", "a\u2000b\u2003c\u2009d\u200ae\u202ff\u205fg\u3000h", "a b c d e f g h"},
		{"tab", "a\tb", "a b"},
		{"line separators", "a\u2028b\u2029c", "a\nb\nc"},
		{"zero-width chars removed", "a\u200bb\u200cc\u200dd\ufeffe\u2060f\u00adg", "abcdefg"},
		{"leading BOM", "\ufeffHello", "Hello"},
		{"c cedilla is a letter, kept", "façade’s", "façade's"},
		{"cyrillic keeps letters, quote replaced", "Привет, “мир”", `Привет, "мир"`},
		{"cyrillic keeps the ellipsis: 1 unit, not 3", "Ждите…", "Ждите…"},
		{"emoji keep their joiners", "Family: 👨\u200d👩\u200d👧 – hi", "Family: 👨\u200d👩\u200d👧 - hi"},
		{"persian keeps zwnj", "می\u200cخواهم", "می\u200cخواهم"},
		{"cjk fullwidth kept", "東京\u3000（ＯＫ）", "東京 （ＯＫ）"},
		{"invalid bytes copied", "a\xff’b", "a\xff'b"},
		{"real U+FFFD kept", "a\ufffd’", "a\ufffd'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SmartEncode(tt.in); got != tt.want {
				t.Fatalf("SmartEncode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSmartEncodeSavesParts(t *testing.T) {
	tests := []struct {
		name, in      string
		before, after int
		enc           string
	}{
		{"one curly quote triples the price", rep("a", 150) + "’", 3, 1, GSM7},
		{"ellipsis makes it gsm", rep("a", 150) + "…", 3, 1, GSM7},
		// 69 Cyrillic + … = 70 units; "..." would be 72 and two parts.
		{"ellipsis kept in ucs2 text", rep("ж", 69) + "…", 1, 1, UCS2},
		// 70 ellipses are one UCS-2 SMS but 210 septets as GSM: kept.
		{"ellipses that would cost more", rep("…", 70), 1, 1, UCS2},
		{"ellipses that would cost more, quote still replaced", rep("…", 69) + "’", 1, 1, UCS2},
		{"few ellipses pay off", rep("…", 50), 1, 1, GSM7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _, _ := Segments(tt.in)
			e, err := Encode(tt.in, true)
			if err != nil || before != tt.before || e.Parts != tt.after || e.Encoding != tt.enc {
				t.Fatalf("before %d, after %+v %v; want %d, %d %s", before, e, err, tt.before, tt.after, tt.enc)
			}
		})
	}
}

// TestSmartRuneTable checks every replacement over all runes: only non-GSM
// characters are replaced, always by GSM text of at most one septet per
// UCS-2 unit saved, except the GSM-only ones.
func TestSmartRuneTable(t *testing.T) {
	n := 0
	for r := rune(0); r <= utf8.MaxRune; r++ {
		repl, ok, cond := smartRune(r)
		if !ok {
			continue
		}
		n++
		if gsmSeptets(r) != 0 {
			t.Errorf("%U %q is GSM but has a replacement", r, r)
		}
		if !IsGSM(repl) {
			t.Errorf("%U replacement %q is not GSM", r, repl)
		}
		if !cond && utf8.RuneCountInString(repl) > 1 {
			t.Errorf("%U replacement %q lengthens UCS-2 text but is always applied", r, repl)
		}
	}
	if n < 40 {
		t.Errorf("only %d replacements", n)
	}
}

func TestSmartEncodeNoAlloc(t *testing.T) {
	for _, s := range []string{rep("Plain GSM text € ", 20), rep("Привет мир ", 20), rep("ж", 10) + "…"} {
		var out string
		if n := testing.AllocsPerRun(100, func() { out = SmartEncode(s) }); n != 0 || out != s {
			t.Errorf("SmartEncode(%.12q…) allocates %v times (unchanged: %v)", s, n, out == s)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		in    string
		smart bool
		want  Encoded
	}{
		{"", false, Encoded{"", 1, GSM7}},
		{"It’s here", false, Encoded{"It’s here", 1, UCS2}},
		{"It’s here", true, Encoded{"It's here", 1, GSM7}},
		{rep("x", 100) + "“ok”", false, Encoded{rep("x", 100) + "“ok”", 2, UCS2}},
		{rep("x", 100) + "“ok”", true, Encoded{rep("x", 100) + `"ok"`, 1, GSM7}},
		{"Привет “мир” 😀", true, Encoded{`Привет "мир" 😀`, 1, UCS2}},
	}
	for _, tt := range tests {
		got, err := Encode(tt.in, tt.smart)
		if err != nil || got != tt.want {
			t.Errorf("Encode(%.20q…, %v) = %+v, %v; want %+v", tt.in, tt.smart, got, err, tt.want)
		}
	}
	if _, err := Encode("\xff", true); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("Encode(invalid) err = %v", err)
	}
}

// FuzzSmartEncode: idempotent, GSM text unchanged, never more parts, and
// nothing touched but the replaced characters.
func FuzzSmartEncode(f *testing.F) {
	for _, s := range []string{"", "plain", "“x” – y…", rep("…", 70), "Привет…", "👨\u200d👩", "a\xff’", "\t\u00a0\u200b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := SmartEncode(s)
		if SmartEncode(out) != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, SmartEncode(out))
		}
		if IsGSM(s) && out != s {
			t.Fatalf("GSM text changed: %q -> %q", s, out)
		}
		if !utf8.ValidString(s) {
			return
		}
		before, _, _ := Segments(s)
		after, _, _ := Segments(out)
		if after > before {
			t.Fatalf("%q: %d parts -> %q: %d parts", s, before, out, after)
		}
		// Removing every replaceable rune from both sides leaves the same text.
		strip := func(x string) string {
			return strings.Map(func(r rune) rune {
				if _, ok, _ := smartRune(r); ok && gsmSeptets(r) == 0 {
					return -1
				}
				return r
			}, x)
		}
		keep := strings.Map(func(r rune) rune {
			if strings.ContainsRune(`'"-. `+"\n", r) {
				return -1
			}
			return r
		}, strip(s))
		got := strings.Map(func(r rune) rune {
			if strings.ContainsRune(`'"-. `+"\n", r) {
				return -1
			}
			return r
		}, strip(out))
		if got != keep {
			t.Fatalf("other characters changed: %q -> %q", s, out)
		}
	})
}
