package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/smsfleet/smsfleet/internal/content"
	"github.com/smsfleet/smsfleet/internal/store"
)

// A phone's export shows each SMS's own text: of a message written in
// several languages, the variant the phone's device language picks, by
// the rule the worker picks it with when it sends (content.Localized.For:
// the language, its base, "default", "en", the first), not the message's
// first text. The SMS record does not keep the variant, so it is picked
// again from the device's language at export: a device whose language
// changed since the send shows the variant of its new language.

// deviceLanguage is the language of app's device phone ("" when the phone
// is not registered: the worker's fallback then applies, as it did).
func (s *Server) deviceLanguage(ctx context.Context, app, phone string) (string, error) {
	d, err := s.o.Store.GetDevice(ctx, app, phone)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("history export: %w", err)
	}
	return d.Language, nil
}

// sentText is the variant of a message's content (its JSON) for a device
// of language lang.
func sentText(raw, lang string) string {
	l, err := content.Parse(json.RawMessage(raw))
	if err != nil || len(l) == 0 {
		return firstText(raw)
	}
	return l[l.For(lang)].Text
}
