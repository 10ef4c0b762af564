package content

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// TagString turns a JSON tag value into the text a placeholder renders:
// strings as they are, numbers and booleans as written, lists joined with
// ", ".
func TagString(raw json.RawMessage) (string, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return fmt.Sprint(t), true
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, ", "), true
	}
	return string(raw), true
}
