// Package content reads the `content` of a notification or preset: a
// string, or an object of language code to text ({"en": "...", "de":
// "..."}), and picks the text for a recipient's language.
package content

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Variant is the text for one language ("" for a plain string content).
type Variant struct {
	Lang string
	Text string
}

// Localized is a content's variants in the order the request gave them:
// "the first" is a fallback, so order matters and a Go map would lose it.
type Localized []Variant

// ErrEmpty is returned for content with no text.
var ErrEmpty = errors.New("required (the SMS text)")

// Parse reads raw JSON content. Errors name the offending language (as
// ".de") so callers can prefix the field path.
func Parse(raw json.RawMessage) (Localized, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ErrEmpty
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("not a valid JSON string: %w", err)
		}
		if strings.TrimSpace(s) == "" {
			return nil, errors.New("must not be empty")
		}
		return Localized{{Text: s}}, nil
	case '{':
		return parseObject(raw)
	}
	return nil, errors.New(`must be a string or an object of language to text, like {"en": "...", "de": "..."}`)
}

func parseObject(raw json.RawMessage) (Localized, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, fmt.Errorf("not a valid JSON object: %w", err)
	}
	var out Localized
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not a valid JSON object: %w", err)
		}
		lang := strings.TrimSpace(tok.(string))
		var text string
		if err := dec.Decode(&text); err != nil {
			return nil, fmt.Errorf(".%s: must be a string", lang)
		}
		key := strings.ToLower(lang)
		switch {
		case lang == "" || len(lang) > 16:
			return nil, fmt.Errorf(": language codes must be 1 to 16 characters, got %q", lang)
		case seen[key]:
			return nil, fmt.Errorf(".%s: given twice", lang)
		case strings.TrimSpace(text) == "":
			return nil, fmt.Errorf(".%s: must not be empty", lang)
		}
		seen[key] = true
		out = append(out, Variant{Lang: lang, Text: text})
	}
	if len(out) == 0 {
		return nil, errors.New("has no language: give at least one text")
	}
	return out, nil
}

// For returns the index of the variant for a recipient whose device
// language is lang: that language (or its base, "de" for "de-AT"), else
// "default", else "en", else the first.
func (l Localized) For(lang string) int {
	lang = strings.ToLower(strings.TrimSpace(lang))
	base, _, _ := strings.Cut(strings.ReplaceAll(lang, "_", "-"), "-")
	for _, want := range []string{lang, base, "default", "en"} {
		if want == "" {
			continue
		}
		for i, v := range l {
			if strings.ToLower(v.Lang) == want {
				return i
			}
		}
	}
	return 0
}

// JSON renders l back to the stored form: a JSON string for a plain
// content, an object (in order) otherwise.
func (l Localized) JSON() string {
	if len(l) == 1 && l[0].Lang == "" {
		b, _ := json.Marshal(l[0].Text)
		return string(b)
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, v := range l {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(v.Lang)
		t, _ := json.Marshal(v.Text)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(t)
	}
	buf.WriteByte('}')
	return buf.String()
}
