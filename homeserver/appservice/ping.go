package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"scop/homeserver"
)

// Errcodes of the ping endpoint (spec: POST
// /_matrix/client/v1/appservice/{appserviceId}/ping).
const (
	ErrURLNotSet         = "M_URL_NOT_SET"
	ErrConnectionFailed  = "M_CONNECTION_FAILED"
	ErrConnectionTimeout = "M_CONNECTION_TIMEOUT"
	ErrBadStatus         = "M_BAD_STATUS"
)

// Ping makes the homeserver POST /_matrix/app/v1/ping to the application
// service asID with txnID, and returns how long it took to answer; a
// success also ends the backoff of the application service's sender. The
// caller has checked that the requester is that application service.
func (s *Service) Ping(ctx context.Context, asID, txnID string) (time.Duration, error) {
	as := s.byID(asID)
	if as == nil {
		return 0, homeserver.Errorf(homeserver.ErrForbidden, "Unknown application service %s", asID)
	}
	if as.URL == "" {
		return 0, homeserver.Errorf(ErrURLNotSet, "Application service %s has no URL", asID)
	}
	body, _ := json.Marshal(map[string]string{"transaction_id": txnID})
	if txnID == "" {
		body = []byte("{}")
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.PingTimeout)
	defer cancel()
	req, err := newRequest(ctx, as, http.MethodPost, "/_matrix/app/v1/ping", body)
	if err != nil {
		return 0, &homeserver.Error{Code: ErrConnectionFailed, Status: http.StatusBadGateway, Message: "Invalid application service URL"}
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return 0, &homeserver.Error{Code: ErrConnectionTimeout, Status: http.StatusGatewayTimeout, Message: "Application service did not answer in time"}
		}
		return 0, &homeserver.Error{Code: ErrConnectionFailed, Status: http.StatusBadGateway, Message: "Cannot connect to the application service"}
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	took := time.Since(start)
	if resp.StatusCode/100 != 2 {
		return 0, &homeserver.Error{Code: ErrBadStatus, Status: http.StatusBadGateway,
			Message: "Application service answered the ping with an error",
			Extra:   map[string]any{"status": resp.StatusCode, "body": string(got)}}
	}
	// The application service is up: a sender backing off after
	// failures retries now (mautrix pings when a bridge starts).
	s.wakeSender(asID)
	return took, nil
}
