package provider

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// KindName names a provider kind, as the configuration's kind: key does.
type KindName string

// Kind is everything smsfleet knows about one kind of provider: how its
// configuration is checked, how its client is built and how its webhooks
// are read. Each kind lives in one file of this package (twilio.go,
// json.go, smpp.go, simulator.go) and registers itself there, so adding a
// kind is that file, its tests and the chart schema's enum; nothing else
// switches on a kind.
type Kind interface {
	Name() KindName
	// Validate checks a provider of this kind; errors name the field.
	// Secrets are read from the environment (see Secret).
	Validate(c Config) error
	// New builds the client of a provider of this kind. It starts nothing:
	// a client that needs a goroutine implements Runner.
	New(c Config, d Deps) (Provider, error)
	// Webhooks is how providers of this kind post delivery receipts and
	// inbound replies to the fleet; nil for a kind that posts none (SMPP:
	// its receipts arrive on its connection).
	Webhooks() Webhooks
}

// Webhooks reads one kind's webhooks: /webhooks/dlr/{provider} (delivery
// receipts) and /webhooks/inbound/{provider} (replies from phones). The
// parsers verify the kind's signature scheme first (against now, for a
// scheme that signs a timestamp) and answer a *WebhookError for any
// refusal. They also return the webhook's Replay: the caller applies
// nothing when its id was seen (Seen) and marks it once applied (Mark).
type Webhooks interface {
	// Secret is the key a provider of this kind signs its webhooks with.
	Secret(c Config) string
	// ParseReceipt reads a delivery receipt, mapping the provider's status
	// word to an sms.Status (see sms.Receipt). now is At.
	ParseReceipt(src Source, r *http.Request, body []byte, now time.Time) (sms.Receipt, Replay, error)
	// ParseReply reads an inbound reply.
	ParseReply(src Source, r *http.Request, body []byte, now time.Time) (Reply, Replay, error)
	// AnswerReply writes the answer to a reply that was applied.
	AnswerReply(w http.ResponseWriter)
}

// Deps is what the fleet gives a client at construction.
type Deps struct {
	// HTTP is the shared client of HTTP providers; nil gets NewHTTPClient().
	HTTP *http.Client
	// SimulatorURL is the simulator a simulator provider without a url
	// talks to ("" when none runs in this process).
	SimulatorURL string
	// StatusCallback returns where provider name's delivery receipts
	// should be posted ("" when the fleet's public URL is unknown); nil
	// means nowhere.
	StatusCallback func(name string) string
	// OnReceipt lands the receipts a provider gets on its connection
	// (SMPP), not by webhook, and returns nil once landed durably: the
	// connection acknowledges a receipt only then (smpp_inbox.go). May be
	// nil.
	OnReceipt func(ctx context.Context, r sms.Receipt) error
	// OnReply lands the inbound messages (MO: replies from phones) a
	// provider gets on its connection (SMPP deliver_sm that is not a
	// receipt), not by webhook, with the provider's name, as OnReceipt
	// does. May be nil (the fleet wires it to the inbound path).
	OnReply func(ctx context.Context, provider string, r Reply) error
	// MOParts holds the parts of long MO (the fleet's Redis); nil holds
	// them in memory.
	MOParts MOPartStore
	// Logger may be nil.
	Logger *zap.Logger
}

func (d Deps) statusCallback(name string) string {
	if d.StatusCallback == nil {
		return ""
	}
	return d.StatusCallback(name)
}

func (d Deps) logger() *zap.Logger {
	if d.Logger == nil {
		return zap.NewNop()
	}
	return d.Logger
}

// kinds is the registry: every kind, by name, registered by its own file.
var kinds = map[KindName]Kind{}

// register adds k to the registry; a kind registered twice is a bug.
func register(k Kind) {
	if _, dup := kinds[k.Name()]; dup {
		panic("provider: kind " + string(k.Name()) + " registered twice")
	}
	kinds[k.Name()] = k
}

// KindNames returns the registered kinds' names, sorted.
func KindNames() []KindName {
	out := make([]KindName, 0, len(kinds))
	for n := range kinds {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// KindOf returns the kind named n.
func KindOf(n KindName) (Kind, bool) {
	k, ok := kinds[n]
	return k, ok
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// Validate checks a provider's name and kind, then what its kind requires.
func (c Config) Validate() error {
	if !providerName.MatchString(c.Name) {
		return fmt.Errorf("provider %q: names are 1 to 32 of a-z, 0-9 and -", c.Name)
	}
	k, ok := kinds[c.Kind]
	if !ok {
		return fmt.Errorf("provider %s: kind must be %s, got %q", c.Name, kindList(), c.Kind)
	}
	return k.Validate(c)
}

// kindList is "a, b or c".
func kindList() string {
	names := KindNames()
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// New builds the client of the provider c describes through its kind.
func New(c Config, d Deps) (Provider, error) {
	k, ok := kinds[c.Kind]
	if !ok {
		return nil, fmt.Errorf("provider %s: unknown kind %q", c.Name, c.Kind)
	}
	return k.New(c, d)
}

// SourceOf returns the webhook source of the provider c describes; ok is
// false when its kind takes no webhooks.
func SourceOf(c Config) (src Source, ok bool) {
	k, found := kinds[c.Kind]
	if !found || k.Webhooks() == nil {
		return Source{}, false
	}
	return Source{Name: c.Name, Kind: c.Kind, Secret: k.Webhooks().Secret(c), LegacySignature: c.LegacySignature}, true
}

// requireSecret is the error of a provider whose webhook secret is not
// set: outside dev every provider that posts webhooks must have its own,
// since an unsigned or default-keyed webhook lets anyone opt phones out
// or mark SMS undelivered. field names what to set.
func requireSecret(c Config, field, v string) error {
	if v == "" {
		return fmt.Errorf("provider %s (%s): %s must name a set environment variable (the secret its webhooks are signed with)", c.Name, c.Kind, field)
	}
	return nil
}

// required is the error of a kind whose field is missing.
func required(c Config, field, v string) error {
	if v == "" {
		return fmt.Errorf("provider %s (%s): %s is required", c.Name, c.Kind, field)
	}
	return nil
}
