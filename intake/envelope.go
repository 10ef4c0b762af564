// Package intake is smsfleet's HTTP intake: the Pushwoosh-compatible JSON
// API (/json/1.3/<method>) and the native API (/api/v1). It validates a
// request whole before writing anything, stores accepted messages and
// hands them to the dispatcher (package dispatcher), which turns them into
// queued SMS.
package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/redisx"
)

// Pushwoosh status codes (the Pushwoosh API contract, README "API"). Argument errors are
// HTTP 200 with status_code 210: that is what Pushwoosh clients check.
const codeArgument = 210

type envelope struct {
	StatusCode    int    `json:"status_code"`
	StatusMessage string `json:"status_message"`
	Response      any    `json:"response"`
}

// apiError is an error with the HTTP status and Pushwoosh status_code it is
// answered with.
type apiError struct {
	HTTP    int
	Code    int
	Message string
	cause   error // what made a 503 (logged, never answered)
	// retryAfter is the Retry-After of a 429 (a 503 always gets
	// httprole.RetryAfter).
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.Message }

// argError is a 210: field names the offending request field.
func argError(field, format string, a ...any) *apiError {
	return &apiError{HTTP: http.StatusOK, Code: codeArgument, Message: field + ": " + fmt.Sprintf(format, a...)}
}

func httpError(status int, format string, a ...any) *apiError {
	return &apiError{HTTP: status, Code: status, Message: fmt.Sprintf(format, a...)}
}

func writeEnvelope(w http.ResponseWriter, status, code int, msg string, resp any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{StatusCode: code, StatusMessage: msg, Response: resp})
}

func writeOK(w http.ResponseWriter, resp any) {
	writeEnvelope(w, http.StatusOK, http.StatusOK, "OK", resp)
}

// msgUnavailable is the 503 answered when Redis did not answer in time
// (or is down): the request may be retried as it is after Retry-After.
const msgUnavailable = "service unavailable: storage did not answer in time, retry later"

// msgUncertain is the 503 of a createMessage whose write was sent but not
// confirmed: Redis may still have stored it, so a retry must carry the
// same transactionId (which finds the stored message instead of sending
// twice).
const msgUncertain = "service unavailable: storage did not confirm the write in time, the message may have been accepted; retry with the same transactionId"

// unavailable is err as a 503 with msg, when it means Redis did not
// answer (redisx.Unavailable); any other error is returned as it is.
func unavailable(err error, msg string) error {
	if redisx.Unavailable(err) {
		return &apiError{HTTP: http.StatusServiceUnavailable, Code: http.StatusServiceUnavailable, Message: msg, cause: err}
	}
	return err
}

// throttledError is the 429 of a source that spent its authentication
// failure budget (authguard): it may try again after wait.
func throttledError(wait time.Duration) *apiError {
	return &apiError{HTTP: http.StatusTooManyRequests, Code: http.StatusTooManyRequests, retryAfter: wait,
		Message: fmt.Sprintf("too many authentication failures from this address: retry after %d seconds", authguard.RetryAfterSeconds(wait))}
}

// setRetryAfter sets the Retry-After header ae's status calls for.
func setRetryAfter(w http.ResponseWriter, ae *apiError) {
	switch ae.HTTP {
	case http.StatusServiceUnavailable:
		httprole.SetRetryAfter(w)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(authguard.RetryAfterSeconds(ae.retryAfter)))
	}
}

// writeErr answers err: an *apiError as it says, Redis not answering or a
// write its replicas did not acknowledge as 503 with Retry-After, anything
// else as an internal error.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	err = unavailable(notDurable(err), msgUnavailable)
	var ae *apiError
	if errors.As(err, &ae) {
		setRetryAfter(w, ae)
		if ae.HTTP == http.StatusServiceUnavailable && ae.cause != nil {
			a.log.Warn("answering 503: storage unavailable", zapMethod(r), zap.NamedError("cause", ae.cause))
		}
		writeEnvelope(w, ae.HTTP, ae.Code, ae.Message, nil)
		return
	}
	a.log.Error("internal error", zapMethod(r), zapErr(err))
	writeEnvelope(w, http.StatusInternalServerError, http.StatusInternalServerError, "internal error", nil)
}
