package clientapi

import (
	"context"
	"net/http"
	"time"

	"scop/homeserver"
)

// AppServicePinger makes the homeserver ping an application service
// (homeserver/appservice.Service).
type AppServicePinger interface {
	Ping(ctx context.Context, asID, txnID string) (time.Duration, error)
}

// RegisterAppServices adds POST /_matrix/client/v1/appservice/{id}/ping
// (spec v1.7; mautrix bridges call it at start-up to check that the
// homeserver reaches them).
func (a *API) RegisterAppServices(p AppServicePinger) {
	a.Handle("POST /_matrix/client/v1/appservice/{appserviceID}/ping", Authed, func(r *http.Request) (any, error) {
		return pingAppService(r, p)
	})
}

func pingAppService(r *http.Request, p AppServicePinger) (any, error) {
	d := MustDevice(r)
	if d.AppServiceID == "" || d.AppServiceID != r.PathValue("appserviceID") {
		return nil, homeserver.Errorf(homeserver.ErrForbidden, "Only the application service itself can ping it")
	}
	var body struct {
		TxnID *string `json:"transaction_id"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	txnID := ""
	if body.TxnID != nil {
		txnID = *body.TxnID
	}
	took, err := p.Ping(r.Context(), d.AppServiceID, txnID)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"duration_ms": took.Milliseconds()}, nil
}
