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

// writeErr answers err; anything that is not an *apiError is internal.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeEnvelope(w, ae.HTTP, ae.Code, ae.Message, nil)
		return
	}
	a.log.Error("internal error", zapMethod(r), zapErr(err))
	writeEnvelope(w, http.StatusInternalServerError, http.StatusInternalServerError, "internal error", nil)
}
