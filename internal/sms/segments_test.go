package sms

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/gsm7/charset"
	"github.com/warthog618/sms/encoding/tpdu"
)

var rep = strings.Repeat

func TestSegments(t *testing.T) {
	tests := []struct {
		name, text string
		parts      int
		enc        string
		lens       []int // septets or units per part, when checked
	}{
		{"empty", "", 1, GSM7, []int{0}},
		{"short gsm", "Your code is 4711", 1, GSM7, nil},
		{"160 gsm fits one", rep("a", 160), 1, GSM7, []int{160}},
		{"161 gsm needs two", rep("a", 161), 2, GSM7, []int{153, 8}},
		{"306 gsm is two parts of 153", rep("a", 306), 2, GSM7, []int{153, 153}},
		{"307 gsm is three", rep("a", 307), 3, GSM7, []int{153, 153, 1}},
		{"extension char at septet 153 moves to part 2", rep("a", 152) + "€" + rep("a", 10), 2, GSM7, []int{152, 12}},
		{"extension char at septets 152-153 fits", rep("a", 151) + "€" + rep("a", 10), 2, GSM7, []int{153, 10}},
		{"push makes a third part", rep("a", 152) + "€" + rep("a", 152), 3, GSM7, []int{152, 153, 1}},
		{"same length without the push is two", rep("a", 151) + "€" + rep("a", 153), 2, GSM7, []int{153, 153}},
		{"extension chars in a single sms count two", rep("a", 158) + "€", 1, GSM7, []int{160}},
		{"one more septet overflows", rep("a", 159) + "€", 2, GSM7, []int{153, 8}},
		{"80 euro signs are 160 septets", rep("€", 80), 1, GSM7, []int{160}},
		{"81 euro signs overflow, 76 per part", rep("€", 81), 2, GSM7, []int{152, 10}},
		{"every extension char", rep("[]{}\\^~|€\f", 16), 3, GSM7, []int{152, 152, 16}},
		{"default alphabet non-ascii", "Ærø Straße: 10£ ¿ÇÅ?", 1, GSM7, nil},
		{"newlines are gsm", "line1\r\nline2\n", 1, GSM7, nil},
		{"70 ucs2 fits one", rep("ж", 70), 1, UCS2, []int{70}},
		{"71 ucs2 needs two", rep("ж", 71), 2, UCS2, []int{67, 4}},
		{"134 ucs2 is two parts of 67", rep("ж", 134), 2, UCS2, []int{67, 67}},
		{"135 ucs2 is three", rep("ж", 135), 3, UCS2, []int{67, 67, 1}},
		{"one non-gsm char makes the whole text ucs2", rep("a", 100) + "ç", 2, UCS2, []int{67, 34}},
		{"one emoji forces ucs2", "Hi 😀", 1, UCS2, []int{5}},
		{"35 emoji are 70 units", rep("😀", 35), 1, UCS2, []int{70}},
		{"emoji straddling units 67/68 moves to part 2", rep("ж", 66) + "😀" + rep("ж", 10), 2, UCS2, []int{66, 12}},
		{"emoji at units 66-67 fits", rep("ж", 65) + "😀" + rep("ж", 10), 2, UCS2, []int{67, 10}},
		{"36 emoji, 33 per part", rep("😀", 36), 2, UCS2, []int{66, 6}},
		{"backtick is not gsm", "it`s", 1, UCS2, nil},
		{"literal escape is not gsm", "a\x1bb", 1, UCS2, nil},
		{"tab is not gsm", "a\tb", 1, UCS2, nil},
		{"lower c cedilla is not gsm", "façade", 1, UCS2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, enc, err := Segments(tt.text)
			if err != nil || parts != tt.parts || enc != tt.enc {
				t.Fatalf("Segments = %d %s %v, want %d %s", parts, enc, err, tt.parts, tt.enc)
			}
			split := SplitParts(tt.text)
			if len(split) != parts || strings.Join(split, "") != tt.text {
				t.Fatalf("SplitParts gave %d parts (joined equal: %v), want %d", len(split), strings.Join(split, "") == tt.text, parts)
			}
			if tt.lens != nil {
				got := make([]int, len(split))
				for i, p := range split {
					got[i] = testLen(p, enc == GSM7)
				}
				if !slices.Equal(got, tt.lens) {
					t.Fatalf("part lengths %v, want %v", got, tt.lens)
				}
			}
		})
	}
}

func TestSegmentsInvalidUTF8(t *testing.T) {
	_, _, err := Segments("abc\xff")
	if !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("err = %v, want ErrInvalidUTF8", err)
	}
	// SplitParts still cuts it, each bad byte one unit, without losing bytes.
	in := rep("\xff", 71)
	if p := SplitParts(in); len(p) != 2 || strings.Join(p, "") != in {
		t.Fatalf("SplitParts(71 bad bytes) = %d parts", len(p))
	}
}

// TestGSMAlphabetMatchesWarthog checks our alphabet table against
// warthog618/sms's default charset over every rune. The one intended
// difference is U+001B, which warthog618 accepts as the escape septet.
func TestGSMAlphabetMatchesWarthog(t *testing.T) {
	set, ext := charset.DefaultEncoder(), charset.DefaultExtEncoder()
	for r := rune(0); r <= utf8.MaxRune; r++ {
		want := 0
		if _, ok := set[r]; ok {
			want = 1
		} else if _, ok := ext[r]; ok {
			want = 2
		}
		if r == 0x1b {
			want = 0
		}
		if got := gsmSeptets(r); got != want {
			t.Errorf("gsmSeptets(%U %q) = %d, want %d", r, r, got, want)
		}
	}
}

// TestSegmentsMatchWarthog compares our split with warthog618/sms's TPDU
// segmentation (what a modem using it would send) on the boundary texts.
func TestSegmentsMatchWarthog(t *testing.T) {
	for _, s := range []string{
		"x", rep("a", 160), rep("a", 161), rep("a", 306), rep("a", 307),
		rep("a", 152) + "€" + rep("a", 10), rep("€", 80), rep("€", 81), rep("€", 500),
		rep("ж", 70), rep("ж", 71), rep("ж", 134), rep("ж", 135),
		rep("ж", 66) + "😀" + rep("ж", 10), rep("😀", 200), rep("a😀", 99),
	} {
		parts, enc, _ := Segments(s)
		wp, wenc := warthogSegments(t, s)
		if parts != wp || enc != wenc {
			t.Errorf("%.20q…: Segments = %d %s, warthog618 = %d %s", s, parts, enc, wp, wenc)
		}
	}
}

func TestSegmentsDoNotAllocate(t *testing.T) {
	texts := []string{rep("a", 150), rep("€", 400), rep("ж", 300), rep("a😀", 99)}
	for _, s := range texts {
		if n := testing.AllocsPerRun(100, func() { _, _, _ = Segments(s) }); n != 0 {
			t.Errorf("Segments(%.10q…) allocates %v times", s, n)
		}
	}
}

func BenchmarkSegments(b *testing.B) {
	s := "Your order #4711 has shipped — it arrives tomorrow between 9:00 and 12:00. Track it at https://example.com/t/4711 [ref] € 12,90 due on delivery. Thanks!"
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			_, _, _ = Segments(s)
		}
	})
	b.Run("warthog618", func(b *testing.B) {
		for b.Loop() {
			_, _ = wsms.Encode([]byte(s))
		}
	})
}

// FuzzSegments checks Segments and SplitParts against an independent, naive
// splitter and, where it is defined the same way, against warthog618/sms.
func FuzzSegments(f *testing.F) {
	for _, s := range []string{
		"",
		"Your code is 4711",
		rep("a", 161),
		rep("a", 152) + "€" + rep("a", 10),
		rep("€", 81),
		rep("ж", 71),
		rep("ж", 66) + "😀" + rep("ж", 10),
		"Hi 😀 {x} ~ ^ | \\ [1]",
		"it`s\ta\x1bb\f",
		"“Quotes” – dashes… and\u00a0spaces",
		"bad \xff\xfe utf-8",
		rep("👨‍👩‍👧", 20),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, enc, err := Segments(s)
		split := SplitParts(s)
		if strings.Join(split, "") != s {
			t.Fatalf("SplitParts does not join back to the input")
		}
		if !utf8.ValidString(s) {
			if !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("invalid UTF-8: err = %v", err)
			}
			return
		}
		if err != nil || parts < 1 {
			t.Fatalf("Segments = %d, %v", parts, err)
		}
		allGSM := true
		for _, r := range s {
			if !strings.ContainsRune(testGSMBasic, r) && !strings.ContainsRune(testGSMExt, r) {
				allGSM = false
			}
		}
		if (enc == GSM7) != allGSM {
			t.Fatalf("encoding %s, but every rune GSM is %v", enc, allGSM)
		}
		want := naiveSplit(s, allGSM)
		if parts != len(want) || len(split) != len(want) {
			t.Fatalf("Segments = %d, SplitParts = %d, naive = %d parts", parts, len(split), len(want))
		}
		for i := range want {
			if split[i] != want[i] {
				t.Fatalf("part %d = %q, naive %q", i, split[i], want[i])
			}
		}
		if !strings.ContainsRune(s, 0x1b) {
			wp, wenc := warthogSegments(t, s)
			if wp != parts || wenc != enc {
				t.Fatalf("Segments = %d %s, warthog618 = %d %s", parts, enc, wp, wenc)
			}
		}
	})
}

// The alphabet again, written out independently of segments.go: default
// table (without the ESC septet) and extension table.
const (
	testGSMBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	testGSMExt   = "\f^{}\\[~]|€"
)

// testLen is the length of s in septets (gsm) or UTF-16 units.
func testLen(s string, gsm bool) int {
	n := 0
	for _, r := range s {
		switch {
		case gsm && strings.ContainsRune(testGSMExt, r):
			n += 2
		case !gsm && r > 0xffff:
			n += 2
		default:
			n++
		}
	}
	return n
}

// naiveSplit splits s the slow, obvious way: a single SMS if the whole text
// fits, else repeatedly the longest prefix of whole runes that fits a part
// (re-summing the prefix for every candidate length).
func naiveSplit(s string, gsm bool) []string {
	single, part := 70, 67
	if gsm {
		single, part = 160, 153
	}
	if testLen(s, gsm) <= single {
		return []string{s}
	}
	rs := []rune(s)
	cost := make([]int, len(rs))
	for i, r := range rs {
		cost[i] = testLen(string(r), gsm)
	}
	sum := func(c []int) (n int) {
		for _, x := range c {
			n += x
		}
		return n
	}
	var out []string
	for len(rs) > 0 {
		k := 1
		for k < len(rs) && sum(cost[:k+1]) <= part {
			k++
		}
		out = append(out, string(rs[:k]))
		rs, cost = rs[k:], cost[k:]
	}
	return out
}

// warthogSegments counts s with warthog618/sms.Encode, the previous
// implementation.
func warthogSegments(t testing.TB, s string) (int, string) {
	t.Helper()
	if s == "" {
		return 1, GSM7
	}
	pdus, err := wsms.Encode([]byte(s))
	if err != nil {
		t.Fatalf("warthog618 Encode: %v", err)
	}
	enc := UCS2
	if a, _ := pdus[0].Alphabet(); a == tpdu.Alpha7Bit {
		enc = GSM7
	}
	return len(pdus), enc
}
