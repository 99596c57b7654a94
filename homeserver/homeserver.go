// Package homeserver holds the domain types shared by the Matrix parts of
// SCoP: the error type every service returns, and the identity of an
// authenticated device. It does no I/O; services live in subpackages
// (accounts, rooms, state, sync) and storage behind homeserver/storage.
package homeserver

import "fmt"

// Matrix error codes used across services (Client-Server API, "Standard error response").
const (
	ErrForbidden          = "M_FORBIDDEN"
	ErrUnknownToken       = "M_UNKNOWN_TOKEN"
	ErrMissingToken       = "M_MISSING_TOKEN"
	ErrUserLocked         = "M_USER_LOCKED"
	ErrBadJSON            = "M_BAD_JSON"
	ErrNotJSON            = "M_NOT_JSON"
	ErrNotFound           = "M_NOT_FOUND"
	ErrLimitExceeded      = "M_LIMIT_EXCEEDED"
	ErrUnrecognized       = "M_UNRECOGNIZED"
	ErrUnknown            = "M_UNKNOWN"
	ErrUnauthorized       = "M_UNAUTHORIZED"
	ErrUserDeactivated    = "M_USER_DEACTIVATED"
	ErrUserInUse          = "M_USER_IN_USE"
	ErrInvalidUsername    = "M_INVALID_USERNAME"
	ErrRoomInUse          = "M_ROOM_IN_USE"
	ErrInvalidRoomState   = "M_INVALID_ROOM_STATE"
	ErrUnsupportedRoomVer = "M_UNSUPPORTED_ROOM_VERSION"
	ErrIncompatibleRoomV  = "M_INCOMPATIBLE_ROOM_VERSION"
	ErrBadState           = "M_BAD_STATE"
	ErrGuestAccess        = "M_GUEST_ACCESS_FORBIDDEN"
	ErrMissingParam       = "M_MISSING_PARAM"
	ErrInvalidParam       = "M_INVALID_PARAM"
	ErrTooLarge           = "M_TOO_LARGE"
	ErrExclusive          = "M_EXCLUSIVE"
	ErrThreepidInUse      = "M_THREEPID_IN_USE"
	ErrWeakPassword       = "M_WEAK_PASSWORD"
	ErrUnknownPos         = "M_UNKNOWN_POS"
	ErrWrongRoomKeysVer   = "M_WRONG_ROOM_KEYS_VERSION"
	ErrBadAlias           = "M_BAD_ALIAS"
)

// Error is a failure with meaning to a client: a Matrix errcode, a message
// safe to show, and optionally the HTTP status (0 means the status the
// transport maps the code to) and extra response fields (retry_after_ms,
// UIA flows). Anything else a service returns is an internal error.
type Error struct {
	Code    string
	Message string
	Status  int
	Extra   map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf makes an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Device is the authenticated caller of a request: a local user acting
// through one of its devices, or an application service masquerading as a
// user in its namespace.
type Device struct {
	UserID       string // full Matrix ID, @local:server
	DeviceID     string
	IsAdmin      bool
	AppServiceID string // non-empty when the request came with an AS token
}
