package render

// Modifiers.
//
// Evidence, and where there was none:
//
//   - docs.pushwoosh.com/developer/guides/personalization/dynamic-content
//     gives the {Tag_name|format_modifier|default_value} syntax and the
//     example "Hello {Alias|CapitalizeFirst|friend}!", but the stored copy
//     has no table of modifiers or of their output formats.
//   - docs.pushwoosh.com/developer/guides/audience-and-segmentation/tags
//     says a Date tag "stores Unix Epoch timestamps" (so the date modifiers
//     read Unix seconds) and a Price tag holds values in the "*.XX" format
//     (so money is shown with two decimals).
//
// The docs are silent on everything else, so we chose the obvious reading:
//
//   - Text modifiers behave like PHP's ucfirst/ucwords/mb_strtoupper/
//     mb_strtolower (the date modifiers are PHP date() letters, which
//     suggests a PHP origin), made Unicode-aware. A "word" is a run of
//     non-white-space characters. Capitalising uses the Unicode title case
//     ("ǆ" -> "ǅ", Georgian stays lower case), which is what capitalising a
//     word means; UPPERCASE uses upper case.
//   - Money: an optional "-", the symbol in front, thousands separated by
//     ",", "." before decimals, rounded half away from zero:
//     dollar 1234.5 -> $1,234.50, euro -> €1,234.50, lira -> ₺1,234.50,
//     jpy 1234.5 -> ¥1,235 (no decimals), negative -1234.5 -> -$1,234.50.
//     One en-US style for every currency keeps an SMS campaign consistent
//     whatever the currency; locale-specific separators would need a
//     locale we do not have per recipient.
//   - cent: the value is an amount in cents, shown in dollars:
//     123456 -> $1,234.56, 5 -> $0.05. (The other reading, "25¢", seemed
//     less useful for prices, which are stored in cents far more often
//     than they are shown in cents.)
//   - comma: thousands separators only, decimals kept as given:
//     1234567 -> 1,234,567, 1234.5 -> 1,234.5.
//   - Numbers are parsed exactly as decimal strings ([+-]digits[.digits],
//     surrounding white space ignored; no exponents, Inf, NaN or hex), so
//     rounding is exact and huge values do not lose digits to float64.
//     A value that does not parse is written unchanged.
//   - Dates: the value is Unix seconds (an integer; otherwise unchanged),
//     shown in the recipient's time zone, English names, zero-padded
//     fields, PHP date() letters: M=Jan, m=01, d=05, y=26, Y=2026,
//     l=Monday, H=14 (24-hour), i=05.

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// modifier appends the formatted value to dst. Modifiers are resolved once
// at parse time so Render only calls a function.
type modifier func(dst []byte, v string, loc *time.Location) []byte

// lookupModifier returns the modifier for name, or nil for the empty name
// and for unknown names: an unknown modifier leaves the value unchanged
// rather than rejecting a whole campaign over a typo, or over a modifier
// Pushwoosh added after this code was written.
func lookupModifier(name string) modifier {
	switch name {
	case "CapitalizeFirst":
		return capitalizeFirst
	case "CapitalizeAllFirst":
		return capitalizeAllFirst
	case "UPPERCASE":
		return upperCase
	case "lowercase":
		return lowerCase
	case "cent":
		return money("$", 2, 2)
	case "dollar":
		return money("$", 2, 0)
	case "euro":
		return money("€", 2, 0)
	case "jpy":
		return money("¥", 0, 0)
	case "lira":
		return money("₺", 2, 0)
	case "comma":
		return comma
	}
	if layout, ok := dateLayouts[name]; ok {
		return date(layout)
	}
	return nil
}

// dateLayouts maps the PHP date() formats Pushwoosh offers to Go layouts.
var dateLayouts = map[string]string{
	"M-d-y":     "Jan-02-06",
	"m-d-y":     "01-02-06",
	"M d y":     "Jan 02 06",
	"M d Y":     "Jan 02 2006",
	"l":         "Monday",
	"M d":       "Jan 02",
	"H:i":       "15:04",
	"m-d-y H:i": "01-02-06 15:04",
}

// ---- text ----

// capitalizeFirst title-cases the first non-space character and leaves the
// rest alone, so "mcDonald" becomes "McDonald", not "Mcdonald".
func capitalizeFirst(dst []byte, v string, _ *time.Location) []byte {
	for i, r := range v {
		if unicode.IsSpace(r) {
			continue
		}
		if r == utf8.RuneError {
			break // invalid UTF-8 (or U+FFFD): nothing to capitalise
		}
		dst = append(dst, v[:i]...)
		dst = utf8.AppendRune(dst, unicode.ToTitle(r))
		return append(dst, v[i+utf8.RuneLen(r):]...)
	}
	return append(dst, v...)
}

// capitalizeAllFirst title-cases the first character of every word and
// leaves the rest alone.
func capitalizeAllFirst(dst []byte, v string, _ *time.Location) []byte {
	wordStart := true
	return mapRunes(dst, v, func(r rune) rune {
		start := wordStart
		wordStart = unicode.IsSpace(r)
		if start {
			return unicode.ToTitle(r)
		}
		return r
	})
}

func upperCase(dst []byte, v string, _ *time.Location) []byte {
	return mapRunes(dst, v, unicode.ToUpper)
}

func lowerCase(dst []byte, v string, _ *time.Location) []byte {
	return mapRunes(dst, v, unicode.ToLower)
}

// mapRunes appends v with f applied to every rune. Unlike strings.Map it
// copies invalid UTF-8 bytes through unchanged instead of replacing them
// with U+FFFD: a modifier should change case, not corrupt data.
func mapRunes(dst []byte, v string, f func(rune) rune) []byte {
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, v[i])
			f(utf8.RuneError) // a stateful f sees a non-space character
			i++
			continue
		}
		if m := f(r); m == r {
			dst = append(dst, v[i:i+size]...)
		} else {
			dst = utf8.AppendRune(dst, m)
		}
		i += size
	}
	return dst
}

// ---- numbers ----

// decimal is a parsed decimal number kept as digit strings, so formatting
// is exact and any length works.
type decimal struct {
	neg  bool
	intg string // integer digits, possibly empty or with leading zeros
	frac string // fraction digits, possibly empty
}

// parseDecimal accepts [+-]digits[.digits], [+-]digits. and [+-].digits,
// ignoring surrounding white space.
func parseDecimal(s string) (decimal, bool) {
	s = strings.TrimSpace(s)
	var d decimal
	if s != "" && (s[0] == '+' || s[0] == '-') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	n := digitRun(s)
	d.intg, s = s[:n], s[n:]
	if s != "" && s[0] == '.' {
		n = digitRun(s[1:])
		d.frac, s = s[1:1+n], s[1+n:]
	}
	if s != "" || d.intg == "" && d.frac == "" {
		return decimal{}, false
	}
	return d, true
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// shiftLeft divides d by 10^places, moving the decimal point left.
func (d decimal) shiftLeft(places int) decimal {
	intg := d.intg
	if len(intg) < places {
		intg = strings.Repeat("0", places-len(intg)) + intg
	}
	cut := len(intg) - places
	return decimal{neg: d.neg, intg: intg[:cut], frac: intg[cut:] + d.frac}
}

// round appends to buf the digits of |d| rounded half away from zero to
// places decimals and returns the integer digits (no leading zeros) and
// exactly places fraction digits. Working in a caller's buffer keeps the
// money modifiers free of allocations for ordinary amounts.
func (d decimal) round(buf []byte, places int) (intg, frac []byte) {
	buf = append(buf, d.intg...)
	up := false
	if len(d.frac) > places {
		buf = append(buf, d.frac[:places]...)
		up = d.frac[places] >= '5'
	} else {
		buf = append(buf, d.frac...)
		for range places - len(d.frac) {
			buf = append(buf, '0')
		}
	}
	if up {
		i := len(buf) - 1
		for ; i >= 0 && buf[i] == '9'; i-- {
			buf[i] = '0'
		}
		if i >= 0 {
			buf[i]++
		} else {
			buf = append(buf, 0)
			copy(buf[1:], buf)
			buf[0] = '1'
		}
	}
	cut := len(buf) - places
	return trimZeros(buf[:cut]), buf[cut:]
}

// trimZeros drops leading zeros, keeping at least one digit.
func trimZeros[S ~string | ~[]byte](s S) S {
	if len(s) == 0 {
		return S("0")
	}
	i := 0
	for i < len(s)-1 && s[i] == '0' {
		i++
	}
	return s[i:]
}

func allZeros[S ~string | ~[]byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// appendGrouped appends integer digits with "," every three digits from
// the right.
func appendGrouped[S ~string | ~[]byte](dst []byte, digits S) []byte {
	for i := 0; i < len(digits); i++ {
		if i > 0 && (len(digits)-i)%3 == 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, digits[i])
	}
	return dst
}

// money returns a currency modifier: symbol, grouped amount and places
// decimals. shift is how many places to move the decimal point left first
// (2 for an amount given in cents).
func money(symbol string, places, shift int) modifier {
	return func(dst []byte, v string, _ *time.Location) []byte {
		d, ok := parseDecimal(v)
		if !ok {
			return append(dst, v...)
		}
		if shift > 0 {
			d = d.shiftLeft(shift)
		}
		var scratch [40]byte
		intg, frac := d.round(scratch[:0], places)
		if d.neg && !(allZeros(intg) && allZeros(frac)) { // never "-$0.00"
			dst = append(dst, '-')
		}
		dst = append(dst, symbol...)
		dst = appendGrouped(dst, intg)
		if places > 0 {
			dst = append(dst, '.')
			dst = append(dst, frac...)
		}
		return dst
	}
}

// comma adds thousands separators and keeps the decimals as given.
func comma(dst []byte, v string, _ *time.Location) []byte {
	d, ok := parseDecimal(v)
	if !ok {
		return append(dst, v...)
	}
	intg := trimZeros(d.intg)
	if d.neg && !(allZeros(intg) && allZeros(d.frac)) {
		dst = append(dst, '-')
	}
	dst = appendGrouped(dst, intg)
	if d.frac != "" {
		dst = append(dst, '.')
		dst = append(dst, d.frac...)
	}
	return dst
}

// ---- dates ----

// date returns a modifier that formats Unix seconds in the recipient's
// time zone with a Go layout.
func date(layout string) modifier {
	return func(dst []byte, v string, loc *time.Location) []byte {
		sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return append(dst, v...)
		}
		return time.Unix(sec, 0).In(loc).AppendFormat(dst, layout)
	}
}
