package clientapi

import (
	"errors"
	"net/http"

	"scop/homeserver"
)

// statusFor is the HTTP status of each errcode when the error names none.
var statusFor = map[string]int{
	homeserver.ErrForbidden:       http.StatusForbidden,
	homeserver.ErrGuestAccess:     http.StatusForbidden,
	homeserver.ErrUserDeactivated: http.StatusForbidden,
	homeserver.ErrUnknownToken:    http.StatusUnauthorized,
	homeserver.ErrMissingToken:    http.StatusUnauthorized,
	homeserver.ErrUnauthorized:    http.StatusUnauthorized,
	homeserver.ErrUserLocked:      http.StatusUnauthorized,
	homeserver.ErrNotFound:        http.StatusNotFound,
	homeserver.ErrUnrecognized:    http.StatusNotFound,
	homeserver.ErrLimitExceeded:   http.StatusTooManyRequests,
	homeserver.ErrTooLarge:        http.StatusRequestEntityTooLarge,
	homeserver.ErrUnknownPos:      http.StatusBadRequest,
	homeserver.ErrUserInUse:       http.StatusBadRequest,
	homeserver.ErrExclusive:       http.StatusBadRequest,
}

// writeError answers err as the spec's standard error response and returns
// the status sent. A *homeserver.Error keeps its code; anything else is
// logged and answered M_UNKNOWN 500 without detail.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	var he *homeserver.Error
	if !errors.As(err, &he) {
		a.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		return writeJSON(w, http.StatusInternalServerError, map[string]any{"errcode": homeserver.ErrUnknown, "error": "Internal server error"})
	}
	status := he.Status
	if status == 0 {
		status = statusFor[he.Code]
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	body := map[string]any{"errcode": he.Code, "error": he.Message}
	for k, v := range he.Extra {
		body[k] = v
	}
	return writeJSON(w, status, body)
}
