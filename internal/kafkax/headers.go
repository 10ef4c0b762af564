package kafkax

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Every record smsfleet produces carries these headers, so a consumer
// routes and deduplicates without parsing the value, and tools (kcat -f
// '%h', Kafka UIs, CloudEvents SDKs) see what the record is. The ce_*
// ones are CloudEvents 1.0 in the Kafka protocol binding's binary mode:
// the value is the event's data and content-type its datacontenttype.
//
// They are written by hand: github.com/cloudevents/sdk-go has Kafka
// bindings for sarama and confluent-kafka-go only, not for
// segmentio/kafka-go, and would bring its whole event model along for
// seven string headers (docs/events/README.md).
const (
	HeaderContentType   = "content-type"
	HeaderEventType     = "event-type"
	HeaderSchemaVersion = "schema-version"
	HeaderCEID          = "ce_id"
	HeaderCESource      = "ce_source"
	HeaderCEType        = "ce_type"
	HeaderCESpecVersion = "ce_specversion"
	HeaderCETime        = "ce_time"
)

// Dead-letter headers: why a record was set aside and where it came
// from, so it can be inspected and replayed to its topic.
const (
	HeaderDLQError     = "dlq-error"
	HeaderDLQTopic     = "dlq-original-topic"
	HeaderDLQPartition = "dlq-original-partition"
	HeaderDLQOffset    = "dlq-original-offset"
)

// ContentJSON is the content type of every payload smsfleet produces.
const ContentJSON = "application/json"

// ContentUnknown is the content type of a dead-lettered value that came
// without one: bytes as they arrived.
const ContentUnknown = "application/octet-stream"

// ceSpecVersion is the CloudEvents version the ce_* headers follow.
const ceSpecVersion = "1.0"

// Event types, one per topic's payload; each has a JSON Schema in
// docs/events/<name>.schema.json.
const (
	TypeOutcome = "sms.outcome"
	TypeReceipt = "sms.receipt"
	TypeInbound = "sms.inbound"
	// TypeDeadLetter marks a dead-lettered record that had no event type
	// of its own.
	TypeDeadLetter = "deadletter"
)

// Meta is what the headers say about one record.
type Meta struct {
	// Type is the event type (TypeOutcome...); SchemaVersion is its
	// payload's schema version (a whole number, bumped on a breaking
	// change, which also changes ce_type's ".v<N>").
	Type          string
	SchemaVersion int
	// ID must be the same every time the same event is produced again (a
	// relay's retry, a redelivered webhook), so consumers deduplicate on
	// (ce_source, ce_id).
	ID string
	// Source names the component that produces the event, not the host
	// or replica, so a redelivery from another replica keeps it: e.g.
	// "/smsfleet/outcomes".
	Source string
	// Time is when the event happened (not when it was produced).
	Time time.Time
}

// CEType is the CloudEvents type of an event type at a schema version:
// reverse-DNS, versioned, e.g. io.smsfleet.sms.outcome.v1.
func CEType(eventType string, version int) string {
	return "io.smsfleet." + eventType + ".v" + strconv.Itoa(version)
}

// Headers returns the headers of a record described by m.
func Headers(m Meta) []kafka.Header {
	return []kafka.Header{
		{Key: HeaderContentType, Value: []byte(ContentJSON)},
		{Key: HeaderEventType, Value: []byte(m.Type)},
		{Key: HeaderSchemaVersion, Value: []byte(strconv.Itoa(m.SchemaVersion))},
		{Key: HeaderCEID, Value: []byte(m.ID)},
		{Key: HeaderCESource, Value: []byte(m.Source)},
		{Key: HeaderCEType, Value: []byte(CEType(m.Type, m.SchemaVersion))},
		{Key: HeaderCESpecVersion, Value: []byte(ceSpecVersion)},
		{Key: HeaderCETime, Value: []byte(m.Time.UTC().Format(time.RFC3339Nano))},
	}
}

// Header returns the value of the first header named key, and whether
// there is one.
func Header(hs []kafka.Header, key string) (string, bool) {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// StableID is an event id derived from parts that identify the event:
// the same parts give the same id on every production. Parts are joined
// with NUL, which no part may contain meaningfully, and hashed, so ids are
// short and reveal nothing of what they name.
func StableID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// DeadLetter returns the record to write to a dead-letter topic for m,
// which could not be processed because of cause: m's key, value and
// headers as they were (a consumer can replay it to its topic unchanged)
// plus the dlq-* headers naming the error and the original topic,
// partition and offset. Records written without ce_* headers (by another
// producer) get a ce_id naming their original position, stable on every
// redelivery of m, so the dead-letter topic can be deduplicated too.
// source is the dead-lettering component (e.g. "/smsfleet/receipts").
func DeadLetter(m kafka.Message, cause error, source string) kafka.Message {
	hs := make([]kafka.Header, 0, len(m.Headers)+8)
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, "dlq-") {
			continue // a record dead-lettered twice keeps only the latest reason
		}
		hs = append(hs, h)
	}
	errText := "unknown"
	if cause != nil {
		errText = cause.Error()
	}
	hs = append(hs,
		kafka.Header{Key: HeaderDLQError, Value: []byte(errText)},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	at := m.Time
	if at.IsZero() {
		at = time.Unix(0, 0)
	}
	// What the original lacks (a record another producer wrote, or one
	// too broken to have come from smsfleet) is filled in; what it has
	// is kept, so its ce_id still deduplicates it.
	fill := Headers(Meta{Type: TypeDeadLetter, SchemaVersion: 1, Source: source, Time: at,
		ID: m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)})
	fill[0].Value = []byte(ContentUnknown) // the value is what arrived, JSON or not
	for _, h := range fill {
		if _, ok := Header(m.Headers, h.Key); !ok {
			hs = append(hs, h)
		}
	}
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: hs}
}
