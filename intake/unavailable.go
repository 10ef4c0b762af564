package intake

import (
	"errors"
	"net/http"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
)

// retryAfterError is a 503 that tells the client when to try again. It
// unwraps to the *apiError writeErr answers with; RetryAfter is for the
// envelope's Retry-After header.
type retryAfterError struct {
	*apiError
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.apiError }

// RetryAfter is how long the client should wait before retrying.
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// notDurable answers a write that fewer Redis replicas acknowledged than
// SMSFLEET_REDIS_WAIT_REPLICAS: 503, retry after a second with the same
// transactionId (the message may exist; the retry finds it, writes nothing
// twice and answers once the replicas have it).
func notDurable(err error) error {
	var nr *store.NotReplicatedError
	if !errors.As(err, &nr) {
		return err
	}
	return &retryAfterError{
		apiError: httpError(http.StatusServiceUnavailable,
			"not durable yet: %d of %d Redis replicas acknowledged the write within %s; retry with the same transactionId", nr.Got, nr.Want, nr.Timeout),
		after: time.Second,
	}
}
