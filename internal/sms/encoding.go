package sms

import (
	"strings"
	"unicode/utf8"
)

// SmartEncode replaces typographic characters that have a plain GSM 03.38
// equivalent, so that one curly quote pasted from a word processor does not
// turn a message into UCS-2, which carries 70 characters instead of 160 and
// so costs up to three times as much.
//
// Only characters outside the GSM alphabet are ever replaced, so text that is
// already GSM is returned unchanged. Two kinds of replacement exist:
//
//   - one-for-one or removals, always applied, also in text that stays UCS-2
//     (a Cyrillic text with “quotes” gets "quotes"): curly and low quotes,
//     primes, guillemets, acute accent and backtick become ' or ";
//     dashes, minus, non-breaking hyphens and bullets become -; no-break,
//     typographic and ideographic spaces and tab become a space; line and
//     paragraph separators become a newline; zero-width space, word joiner,
//     BOM and soft hyphen are removed.
//   - those only worth it when the result is GSM, applied only then: the
//     ellipsis becomes "..." (one UCS-2 unit but three septets, so in text
//     that stays UCS-2 it would only lengthen it) and the zero-width
//     (non-)joiners are removed (in UCS-2 text they carry meaning: they
//     glue emoji sequences like 👨‍👩‍👧 and shape Persian and Indic
//     words). Even then they are skipped if the GSM result would take more
//     parts than leaving the text UCS-2 (a text made mostly of ellipses).
//
// So SmartEncode never increases the number of parts. Bytes that are not
// UTF-8 are copied as they are. When nothing needs replacing it returns text
// itself without allocating.
func SmartEncode(text string) string {
	var always, ifGSM bool
	gsm := true // the result, with every replacement applied, is GSM
	for _, r := range text {
		if gsmSeptets(r) != 0 {
			continue
		}
		if _, ok, cond := smartRune(r); ok {
			if cond {
				ifGSM = true
			} else {
				always = true
			}
			continue
		}
		gsm = false
	}
	full := gsm && ifGSM
	if !always && !full {
		return text
	}
	out := smartReplace(text, full)
	if full {
		// Only the ellipsis lengthens text: make sure going GSM pays off.
		// (text is valid UTF-8 here, or it would not become GSM.)
		alt := text
		if always {
			alt = smartReplace(text, false)
		}
		p, _, _ := Segments(out)
		if q, _, _ := Segments(alt); p > q {
			return alt
		}
	}
	return out
}

// smartReplace returns text with the replacements applied, including those
// that only pay off in GSM text when full. Everything else, invalid bytes
// included, is copied as it is.
func smartReplace(text string, full bool) string {
	var b strings.Builder
	b.Grow(len(text) + 8)
	for i, r := range text {
		if gsmSeptets(r) == 0 {
			if repl, ok, cond := smartRune(r); ok && (full || !cond) {
				b.WriteString(repl)
				continue
			}
		}
		_, w := utf8.DecodeRuneInString(text[i:])
		b.WriteString(text[i : i+w])
	}
	return b.String()
}

// smartRune returns the GSM replacement of r (possibly empty: removed),
// whether r has one, and whether it is applied only when the whole text
// becomes GSM. Every replacement is GSM and every r replaced is not
// (checked by the tests).
func smartRune(r rune) (repl string, ok, onlyIfGSM bool) {
	switch r {
	case '\u2018', '\u2019', '\u201A', '\u201B', // ‘ ’ ‚ ‛
		'\u2032',           // ′
		'\u2039', '\u203A', // ‹ ›
		'\u00B4', '`', '\u02BC': // ´ ` ʼ (modifier letter apostrophe)
		return "'", true, false
	case '\u201C', '\u201D', '\u201E', '\u201F', // “ ” „ ‟
		'\u2033',           // ″
		'\u00AB', '\u00BB': // « » (not in GSM 03.38)
		return `"`, true, false
	case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', // ‐ ‑ ‒ – — ―
		'\u2212',                     // −
		'\u2022', '\u2043', '\u2219': // • ⁃ ∙
		return "-", true, false
	case '\t', '\u00A0', // tab, no-break space
		'\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', // en/em quads and spaces
		'\u2006', '\u2007', '\u2008', '\u2009', '\u200A', // ... thin, hair space
		'\u202F', '\u205F', '\u3000': // narrow no-break, math, ideographic space
		return " ", true, false
	case '\u2028', '\u2029': // line, paragraph separator
		return "\n", true, false
	case '\u200B', '\u2060', '\uFEFF', '\u00AD': // zero-width space, word joiner, BOM, soft hyphen
		return "", true, false
	case '\u200C', '\u200D': // zero-width non-joiner, joiner
		return "", true, true
	case '\u2026': // …
		return "...", true, true
	}
	return "", false, false
}

// Encoded is a text as it will be sent: after smart encoding, if asked for,
// with its parts and encoding.
type Encoded struct {
	Text     string
	Parts    int
	Encoding string
}

// Encode prepares text for sending: SmartEncode when smart (an
// application's choice, as it changes what recipients read), then Segments.
func Encode(text string, smart bool) (Encoded, error) {
	if smart {
		text = SmartEncode(text)
	}
	parts, enc, err := Segments(text)
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{Text: text, Parts: parts, Encoding: enc}, nil
}
