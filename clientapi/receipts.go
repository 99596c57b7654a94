package clientapi

import (
	"net/http"
)

func (rr *roomRoutes) receiptRoutes(a *API) {
	a.Handle("POST /rooms/{roomID}/receipt/{receiptType}/{eventID}", Authed, rr.receipt)
	a.Handle("POST /rooms/{roomID}/read_markers", Authed, rr.readMarkers)
}

func (rr *roomRoutes) receipt(r *http.Request) (any, error) {
	var body struct {
		ThreadID string `json:"thread_id"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	err := rr.svc.SendReceipt(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("receiptType"), r.PathValue("eventID"), body.ThreadID)
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (rr *roomRoutes) readMarkers(r *http.Request) (any, error) {
	var body struct {
		FullyRead   string `json:"m.fully_read"`
		Read        string `json:"m.read"`
		ReadPrivate string `json:"m.read.private"`
	}
	if err := DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	err := rr.svc.SetReadMarkers(r.Context(), MustDevice(r), r.PathValue("roomID"), body.FullyRead, body.Read, body.ReadPrivate)
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
