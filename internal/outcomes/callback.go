package outcomes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/signature"
)

// callbackTask is the payload of one status callback: where to POST and
// the exact body. The body is signed when it is sent, with the
// application's secret at that moment, so a rotated secret applies to
// retries too and no secret is ever stored in Redis.
type callbackTask struct {
	URL  string          `json:"url"`
	App  string          `json:"app"`
	Body json.RawMessage `json:"body"`
}

// Callbacks POSTs outcome events to status_callback URLs. Any answer but
// 2xx, and any network error, is retried by asynq with backoff until the
// task's attempts run out; the task is then archived, where on-call can
// see and retry it in the monitor.
//
// Each POST is signed the Standard Webhooks way, so a customer can check
// it with any standard verifier: webhook-id is the event's event_id (the
// same on every retry, to deduplicate on), webhook-timestamp the attempt's
// time, webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>"
// keyed with the application's callback secret. The old
// X-Smsfleet-Signature (SignatureHeader), which signs no timestamp and so
// can be replayed, is still sent for one release and then dropped.
type Callbacks struct {
	Client *http.Client
	Secret func(app string) string
	Log    *zap.Logger
	// Now is the clock webhook-timestamp is read from (nil: time.Now).
	Now func() time.Time
}

// eventID is the event_id of a callback body, its webhook-id.
func eventID(body []byte) (string, error) {
	var ev struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", fmt.Errorf("callback body: %w", err)
	}
	if ev.EventID == "" {
		return "", fmt.Errorf("callback body: no event_id")
	}
	return ev.EventID, nil
}

// ProcessTask implements asynq.Handler.
func (c *Callbacks) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var ct callbackTask
	if err := json.Unmarshal(t.Payload(), &ct); err != nil {
		return fmt.Errorf("callback payload: %v: %w", err, asynq.SkipRetry)
	}
	secret := c.Secret(ct.App)
	if secret == "" {
		// The secret was removed after intake: an unsigned POST would teach
		// the receiver to accept forgeries.
		return fmt.Errorf("callback for application %s: it has no callback secret any more: %w", ct.App, asynq.SkipRetry)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ct.URL, bytes.NewReader(ct.Body))
	if err != nil {
		return fmt.Errorf("callback request: %v: %w", err, asynq.SkipRetry)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "smsfleet-callbacks/1")
	id, err := eventID(ct.Body)
	if err != nil {
		return fmt.Errorf("callback for application %s: %v: %w", ct.App, err, asynq.SkipRetry)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := signature.SetStandard(req.Header, secret, id, now(), ct.Body); err != nil {
		return fmt.Errorf("callback for application %s: %v: %w", ct.App, err, asynq.SkipRetry)
	}
	// Deprecated: replayable (no timestamp); kept for one release.
	req.Header.Set(SignatureHeader, signature.Sign(secret, ct.Body))
	start := time.Now()
	resp, err := c.Client.Do(req)
	if err != nil {
		metrics.Callbacks.WithLabelValues("failed").Inc()
		return fmt.Errorf("callback POST: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		metrics.Callbacks.WithLabelValues("failed").Inc()
		return fmt.Errorf("callback POST: HTTP %d", resp.StatusCode)
	}
	metrics.Callbacks.WithLabelValues("ok").Inc()
	c.Log.Debug("status callback delivered", zap.String("app", ct.App), zap.Duration("took", time.Since(start)))
	return nil
}
