package clientapi

import (
	"net/http"
	"strconv"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

// relationRoutes serves GET /_matrix/client/v1/rooms/{roomId}/relations/…
// and /threads (spec: "Relationships", "Threading"); the endpoints exist
// only under v1.
func (rr *roomRoutes) relationRoutes(a *API) {
	const base = "GET /_matrix/client/v1/rooms/{roomID}/relations/{eventID}"
	a.Handle(base, Authed, rr.relations)
	a.Handle(base+"/{relType}", Authed, rr.relations)
	a.Handle(base+"/{relType}/{eventType}", Authed, rr.relations)
	a.Handle("GET /_matrix/client/v1/rooms/{roomID}/threads", Authed, rr.threads)
	a.Handle("GET /_matrix/client/v1/rooms/{roomID}/timestamp_to_event", Authed, rr.timestampToEvent)
}

func (rr *roomRoutes) timestampToEvent(r *http.Request) (any, error) {
	q := r.URL.Query()
	if q.Get("ts") == "" || q.Get("dir") == "" {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "ts and dir are required")
	}
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil || ts < 0 {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid ts")
	}
	return rr.svc.TimestampToEvent(r.Context(), MustDevice(r), r.PathValue("roomID"), ts, q.Get("dir"))
}

func (rr *roomRoutes) threads(r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	return rr.svc.Threads(r.Context(), MustDevice(r), r.PathValue("roomID"), rooms.ThreadsRequest{
		Include: q.Get("include"), From: q.Get("from"), Limit: limit,
	})
}

func (rr *roomRoutes) relations(r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	return rr.svc.Relations(r.Context(), MustDevice(r), r.PathValue("roomID"), r.PathValue("eventID"), rooms.RelationsRequest{
		RelType: r.PathValue("relType"), EventType: r.PathValue("eventType"),
		From: roomsToken(q.Get("from")), To: roomsToken(q.Get("to")), Dir: q.Get("dir"), Limit: limit,
	})
}
