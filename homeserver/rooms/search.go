package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// SearchRequest is the room_events category of POST /search.
type SearchRequest struct {
	SearchTerm string           `json:"search_term"`
	Keys       []string         `json:"keys,omitempty"`
	Filter     *RoomEventFilter `json:"filter,omitempty"`
	OrderBy    string           `json:"order_by,omitempty"`
	NextBatch  string           `json:"-"` // from the query string
}

// SearchResult is one hit.
type SearchResult struct {
	Rank   float64         `json:"rank"`
	Result json.RawMessage `json:"result"`
}

// SearchResponse is the room_events category of the /search answer.
type SearchResponse struct {
	Results    []SearchResult `json:"results"`
	Count      int            `json:"count"`
	Highlights []string       `json:"highlights"`
	NextBatch  string         `json:"next_batch,omitempty"`
}

// searchKeys are the content fields the spec allows searching.
var searchKeys = map[string]string{"content.body": "body", "content.name": "name", "content.topic": "topic"}

// SearchRoomEvents finds the events, in rooms the caller is or was in and
// within what it may see, whose searched keys contain every word of the
// search term (case-insensitive), newest first. There is no full-text
// index: each call scans the visible timelines. Ranking is by recency for
// both order_by values; next_batch is an offset ("t<n>").
func (s *Service) SearchRoomEvents(ctx context.Context, dev homeserver.Device, req SearchRequest) (*SearchResponse, error) {
	words := strings.Fields(strings.ToLower(req.SearchTerm))
	if len(words) == 0 {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "search_term must not be empty")
	}
	switch req.OrderBy {
	case "", "rank", "recent":
	default:
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "order_by must be rank or recent")
	}
	keys := req.Keys
	if len(keys) == 0 {
		keys = []string{"content.body", "content.name", "content.topic"}
	}
	fields := make([]string, 0, len(keys))
	for _, k := range keys {
		f, ok := searchKeys[k]
		if !ok {
			return nil, homeserver.Errorf(homeserver.ErrBadJSON, "Cannot search key %q", k)
		}
		fields = append(fields, f)
	}
	offset := 0
	if req.NextBatch != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.NextBatch, "t"))
		if err != nil || n < 0 || !strings.HasPrefix(req.NextBatch, "t") {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid next_batch %q", req.NextBatch)
		}
		offset = n
	}
	limit := req.Filter.limit(10, 100)
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	filter := req.Filter.withIgnored(ignored)
	type hit struct {
		pos int64
		e   *Event
	}
	var hits []hit
	for _, m := range s.userMemberships(dev.UserID) {
		if m.forgotten || (m.membership != spec.Join && m.membership != spec.Leave && m.membership != spec.Ban) || !filter.allowsRoom(m.roomID) {
			continue
		}
		v, err := s.viewOf(ctx, dev.UserID, m.roomID)
		if err != nil {
			continue // no longer visible
		}
		_, err = s.scan(ctx, v, 0, min(s.committedPos(), v.upTo), false, relationScanBatch, func(e *Event) (bool, error) {
			if filter.allowsEvent(e) && matchesSearch(e, fields, words) {
				hits = append(hits, hit{e.Pos, e})
			}
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(b.pos, a.pos) })
	resp := &SearchResponse{Results: []SearchResult{}, Count: len(hits), Highlights: words}
	for i := offset; i < len(hits); i++ {
		if len(resp.Results) == limit {
			resp.NextBatch = "t" + strconv.Itoa(i)
			break
		}
		resp.Results = append(resp.Results, SearchResult{Rank: 1, Result: hits[i].e.JSON(dev.UserID, dev.DeviceID)})
	}
	return resp, nil
}

// matchesSearch reports whether one of the fields of e's content holds
// every word.
func matchesSearch(e *Event, fields, words []string) bool {
	var c map[string]json.RawMessage
	if json.Unmarshal(e.PDU.Content(), &c) != nil {
		return false
	}
	for _, f := range fields {
		var v string
		if json.Unmarshal(c[f], &v) != nil || v == "" {
			continue
		}
		v = strings.ToLower(v)
		all := true
		for _, w := range words {
			if !strings.Contains(v, w) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
