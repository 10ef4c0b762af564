// Package targeting is Pushwoosh's tag conditions. createMessage's
// "conditions" targets the application's registered SMS devices by their
// tags, as Pushwoosh documents them; the intake validates them (Parse) and
// stores them with the message (Encode), and the message's dispatch
// evaluates them against the devices registered when it goes out
// (dispatcher/targeted.go). Each
// condition is [tagName, operator, operand]; conditions_operator combines
// them ("AND", the default, or "OR"). Operators and operands follow
// Pushwoosh's tag-condition rules
// (https://pushwoosh.readme.io/reference/createemailmessage, "Tag
// conditions"; createMessage takes the same conditions,
// https://docs.pushwoosh.com/developer/api-reference/messages-api/):
//
//	EQ, NOTEQ        the tag equals / does not equal the operand
//	IN, NOTIN        the tag (a list tag: any of its values) is / is not one of the operand array
//	GTE, LTE         the tag is ≥ / ≤ the operand (numbers, or dates "YYYY-MM-DD HH:mm")
//	BETWEEN          min ≤ tag ≤ max, operand [min, max]
//	NOTSET, ANY      the tag is not set / is set to anything (no operand)
//
// Where Pushwoosh leaves a case open, smsfleet picks the answer that
// sends to fewer people: a device without the tag matches only NOTSET (not
// NOTEQ or NOTIN), and a comparison between kinds that do not compare (a
// number against a word) is false. Two built-in tags read the device
// itself: "Language" (its language, compared case-insensitively) and
// "Country" (the ISO 3166 region of its number, e.g. "GB").
package targeting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Built-in tags.
const (
	tagLanguage = "Language"
	tagCountry  = "Country"
)

// condOp is a tag-condition operator.
type condOp string

const (
	opEQ      condOp = "EQ"
	opNOTEQ   condOp = "NOTEQ"
	opIN      condOp = "IN"
	opNOTIN   condOp = "NOTIN"
	opGTE     condOp = "GTE"
	opLTE     condOp = "LTE"
	opBETWEEN condOp = "BETWEEN"
	opNOTSET  condOp = "NOTSET"
	opANY     condOp = "ANY"
)

// condition is one validated [tagName, operator, operand].
type condition struct {
	tag     string
	op      condOp
	operand []json.RawMessage // one value, the array's values, or none
}

// Targeting is a notification's validated conditions. The zero value
// (no conditions) matches every device: a broadcast.
type Targeting struct {
	conds []condition
	or    bool
	// raw is the conditions as the caller sent them (validated), kept for
	// Encode.
	raw json.RawMessage
}

// Tags returns the tag names the conditions read (the device fields to
// load), built-in ones included.
func (t Targeting) Tags() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range t.conds {
		if !seen[c.tag] {
			seen[c.tag] = true
			out = append(out, c.tag)
		}
	}
	return out
}

// Bounds of one notification's conditions.
const (
	MaxConditions = 50
	// MaxTagName is the longest tag name, as the device API allows.
	MaxTagName = 128
)

// Parse validates conditions and conditions_operator. field is the
// notification's ("notifications[0]"); an error is an *Error naming the
// field at fault.
func Parse(raw json.RawMessage, operator, field string) (Targeting, error) {
	var t Targeting
	switch strings.ToUpper(operator) {
	case "", "AND":
	case "OR":
		t.or = true
	default:
		return t, fieldError(field+".conditions_operator", `must be "AND" or "OR", got %q`, operator)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return t, fieldError(field+".conditions", "must be an array of [tagName, operator, operand] conditions")
	}
	if len(list) > MaxConditions {
		return t, fieldError(field+".conditions", "at most %d conditions, got %d", MaxConditions, len(list))
	}
	for i, item := range list {
		c, err := parseCondition(item, fmt.Sprintf("%s.conditions[%d]", field, i))
		if err != nil {
			return t, err
		}
		t.conds = append(t.conds, c)
	}
	t.raw = raw
	return t, nil
}

// parseCondition validates one [tagName, operator, operand].
func parseCondition(raw json.RawMessage, field string) (condition, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) < 2 || len(parts) > 3 {
		return condition{}, fieldError(field, "must be [tagName, operator, operand] (NOTSET and ANY take no operand)")
	}
	var c condition
	var op string
	if json.Unmarshal(parts[0], &c.tag) != nil || c.tag == "" || len(c.tag) > MaxTagName {
		return condition{}, fieldError(field, "the tag name must be a string of 1 to %d bytes", MaxTagName)
	}
	if json.Unmarshal(parts[1], &op) != nil {
		return condition{}, fieldError(field, "the operator must be a string")
	}
	c.op = condOp(strings.ToUpper(op))
	var operand json.RawMessage
	if len(parts) == 3 {
		operand = parts[2]
	}
	if err := c.checkOperand(operand, field); err != nil {
		return condition{}, err
	}
	return c, nil
}

// checkOperand validates the operand for the operator and keeps it.
func (c *condition) checkOperand(operand json.RawMessage, field string) error {
	switch c.op {
	case opNOTSET, opANY:
		if operand != nil && string(operand) != "null" {
			return fieldError(field, "%s takes no operand", c.op)
		}
		return nil
	case opEQ, opNOTEQ, opGTE, opLTE:
		if operand == nil || !scalar(operand) {
			return fieldError(field, "%s needs a string, number or boolean operand", c.op)
		}
		if relativeDate(operand) {
			return fieldError(field, "relative dates (\"N days ago\") are not supported; give \"YYYY-MM-DD HH:mm\" or a Unix timestamp")
		}
		c.operand = []json.RawMessage{operand}
		return nil
	case opIN, opNOTIN, opBETWEEN:
		var vals []json.RawMessage
		if operand == nil || json.Unmarshal(operand, &vals) != nil || len(vals) == 0 {
			return fieldError(field, "%s needs an array operand", c.op)
		}
		for _, v := range vals {
			if !scalar(v) {
				return fieldError(field, "%s: the operand array must hold strings, numbers or booleans", c.op)
			}
			if relativeDate(v) {
				return fieldError(field, "relative dates (\"N days ago\") are not supported; give \"YYYY-MM-DD HH:mm\" or a Unix timestamp")
			}
		}
		if c.op == opBETWEEN && len(vals) != 2 {
			return fieldError(field, "BETWEEN needs [min, max], got %d values", len(vals))
		}
		c.operand = vals
		return nil
	}
	return fieldError(field, "unknown operator %q (EQ, NOTEQ, IN, NOTIN, GTE, LTE, BETWEEN, NOTSET, ANY)", string(c.op))
}

// relativeDate reports an operand like "3 days ago", which Pushwoosh
// accepts for date tags and smsfleet does not: compared as text it would
// match the wrong devices.
func relativeDate(v json.RawMessage) bool {
	s, ok := stringOf(v)
	return ok && strings.HasSuffix(strings.ToLower(strings.TrimSpace(s)), "days ago")
}

// scalar reports whether v is a JSON string, number or boolean.
func scalar(v json.RawMessage) bool {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return false
	}
	switch t[0] {
	case '"', 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// Error is a condition the caller got wrong: Field names it
// ("notifications[0].conditions[1]").
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

func fieldError(field, format string, a ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// stored is how a message keeps its targeting until its dispatch
// evaluates it: the conditions as validated, and the operator.
type stored struct {
	Conditions json.RawMessage `json:"conditions"`
	Or         bool            `json:"or,omitempty"`
}

// Encode is t as the message stores it (store.Message.Conditions); Decode
// reads it back. The zero Targeting (a broadcast) encodes too: it is
// never "", which means "no targeting" to the store.
func (t Targeting) Encode() string {
	raw := t.raw
	if len(raw) == 0 {
		raw = json.RawMessage("[]")
	}
	b, _ := json.Marshal(stored{Conditions: raw, Or: t.or}) // RawMessage already valid JSON
	return string(b)
}

// Decode reads a stored targeting (Encode), validating it again: a
// message written by a newer version with an operator this one does not
// know fails here rather than matching the wrong devices.
func Decode(s string) (Targeting, error) {
	var st stored
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return Targeting{}, fmt.Errorf("stored conditions: %w", err)
	}
	op := "AND"
	if st.Or {
		op = "OR"
	}
	t, err := Parse(st.Conditions, op, "conditions")
	if err != nil {
		return Targeting{}, fmt.Errorf("stored conditions: %w", err)
	}
	return t, nil
}
