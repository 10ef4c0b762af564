package worker

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/smsfleet/smsfleet/internal/content"
	"github.com/smsfleet/smsfleet/internal/content/render"
	"github.com/smsfleet/smsfleet/internal/store"
)

// compiled is a message's content parsed once per process: its languages,
// their templates and its dynamic_content_placeholders.
type compiled struct {
	langs        content.Localized
	templates    []*render.Template
	placeholders map[string]json.RawMessage
}

// TextCache keeps compiled message contents, keyed by the content and
// placeholders themselves, so a campaign's 100,000 SMS parse their
// template once rather than 100,000 times.
type TextCache struct{ c *lru.Cache[string, *compiled] }

// NewTextCache returns a cache of up to size contents.
func NewTextCache(size int) *TextCache {
	c, _ := lru.New[string, *compiled](size)
	return &TextCache{c: c}
}

func (tc *TextCache) get(raw, placeholders string) (*compiled, error) {
	key := raw + "\x00" + placeholders
	if c, ok := tc.c.Get(key); ok {
		return c, nil
	}
	langs, err := content.Parse(json.RawMessage(raw))
	if err != nil {
		return nil, fmt.Errorf("stored content: %w", err)
	}
	c := &compiled{langs: langs}
	for _, v := range langs {
		t, err := render.Parse(v.Text)
		if err != nil {
			return nil, fmt.Errorf("stored template (%s): %w", v.Lang, err)
		}
		c.templates = append(c.templates, t)
	}
	if placeholders != "" {
		if err := json.Unmarshal([]byte(placeholders), &c.placeholders); err != nil {
			return nil, fmt.Errorf("stored placeholders: %w", err)
		}
	}
	tc.c.Add(key, c)
	return c, nil
}

// render picks the recipient's language and fills its placeholders:
// dynamic_content_placeholders first, then the device's tags (exact name,
// then any case), read now so tags set after the request count.
func (s *Sender) render(l store.Loaded, zone func() *time.Location) (string, error) {
	c, err := s.Texts.get(l.Content, l.Placeholders)
	if err != nil {
		return "", err
	}
	t := c.templates[c.langs.For(deviceLanguage(l))]
	if t.Static() {
		return t.Render(nil, nil)
	}
	var tags map[string]json.RawMessage
	if l.Device != nil {
		tags = l.Device.Tags
	}
	lookup := func(tag string) (string, bool) {
		if v, ok := c.placeholders[tag]; ok {
			return content.TagString(v)
		}
		if v, ok := tags[tag]; ok {
			return content.TagString(v)
		}
		for k, v := range tags {
			if strings.EqualFold(k, tag) {
				return content.TagString(v)
			}
		}
		return "", false
	}
	return t.Render(lookup, zone())
}

func deviceLanguage(l store.Loaded) string {
	if l.Device == nil {
		return ""
	}
	return l.Device.Language
}
