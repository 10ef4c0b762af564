package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/content"
	"github.com/smsfleet/smsfleet/internal/content/render"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// composeContent resolves a notification's text: its own `content`, else
// its `preset`'s. Every language's template is parsed now, so a broken one
// is a 210 at intake naming the position, and a static text over the
// segment limit is refused before anything is stored.
func (a *API) composeContent(ctx context.Context, app, field string, raw json.RawMessage, preset string, pol config.Resolved) (content.Localized, error) {
	from := field + ".content"
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		if preset == "" {
			return nil, argError(from, "required (the SMS text, or a preset)")
		}
		p, err := a.Store.GetPreset(ctx, app, preset)
		if errors.Is(err, store.ErrNotFound) {
			return nil, argError(field+".preset", "unknown preset code %q", preset)
		}
		if err != nil {
			return nil, err
		}
		raw, from = json.RawMessage(p.Content), field+".preset"
	}
	return checkContent(raw, from, pol)
}

// checkContent parses content JSON and checks each language's template.
func checkContent(raw json.RawMessage, field string, pol config.Resolved) (content.Localized, error) {
	// encoding/json turns invalid UTF-8 into U+FFFD, which would silently
	// change the text (and can switch it to UCS-2): refuse it instead.
	if !utf8.Valid(raw) {
		return nil, argError(field, "is not valid UTF-8")
	}
	loc, err := content.Parse(raw)
	if err != nil {
		msg := err.Error()
		if strings.HasPrefix(msg, ".") || strings.HasPrefix(msg, ":") {
			// content.Parse names a language as ".de: ..." to extend the path.
			sub, rest, _ := strings.Cut(msg, ": ")
			return nil, argError(field+strings.TrimSuffix(sub, ":"), "%s", rest)
		}
		return nil, argError(field, "%s", msg)
	}
	for _, v := range loc {
		path := field
		if v.Lang != "" {
			path += "." + v.Lang
		}
		if strings.ContainsRune(v.Text, 0) {
			return nil, argError(path, "must not contain NUL characters")
		}
		if strings.ContainsRune(v.Text, utf8.RuneError) && !sentReplacementChar(raw) {
			// encoding/json decodes a lone UTF-16 surrogate (\ud800) to
			// U+FFFD; the client never sent that character.
			return nil, argError(path, "contains an invalid \\u escape (a lone UTF-16 surrogate)")
		}
		t, err := render.Parse(v.Text)
		if err != nil {
			return nil, argError(path, "%v", err)
		}
		if !t.Static() {
			continue // rendered per recipient; the limit is applied then
		}
		enc, err := sms.Encode(v.Text, pol.SmartEncoding)
		if err != nil {
			return nil, argError(path, "%v", err)
		}
		if enc.Parts > pol.MaxSegments {
			return nil, argError(path, "%d segments (%s), more than the maximum of %d", enc.Parts, enc.Encoding, pol.MaxSegments)
		}
	}
	return loc, nil
}

// sentReplacementChar reports whether raw holds U+FFFD itself, literally
// or as the escape \ufffd, rather than getting it from decoding.
func sentReplacementChar(raw []byte) bool {
	return bytes.ContainsRune(raw, utf8.RuneError) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
}

// checkPlaceholders validates dynamic_content_placeholders: an object of
// tag name to a string, number or boolean.
func checkPlaceholders(raw json.RawMessage, field string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", argError(field, "must be an object of tag name to value")
	}
	for k, v := range m {
		switch v.(type) {
		case string, float64, bool:
		default:
			return "", argError(field+"."+k, "must be a string, number or boolean")
		}
	}
	return string(raw), nil
}
