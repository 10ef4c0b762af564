package history

import "github.com/smsfleet/smsfleet/internal/store"

// shownContent is a message's content as the pages show it: its JSON, or,
// once its text was removed (redaction or the end of its text retention,
// store/privacy.go), a text saying so in its place. The counts, the chart
// and the SMS records are shown as before: only the text is gone.
func shownContent(m store.Message) string {
	switch m.TextGone {
	case "":
		return m.Content
	case store.TextRedacted:
		return `"[redacted]"`
	}
	return `"[text removed: its retention ended]"`
}
