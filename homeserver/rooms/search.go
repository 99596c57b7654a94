package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

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

// searchCountCap is where SearchRoomEvents stops counting matches beyond
// the page it returns (a variable so that tests can lower it).
var searchCountCap = 1000

// searchMaxSkip bounds the offset of a "t<n>" next_batch, the token
// format of earlier versions, which makes a search hold n results.
const searchMaxSkip = 10000

// SearchRoomEvents finds the events, in rooms the caller is or was in and
// within what it may see, whose searched keys contain every word of the
// search term (case-insensitive), newest first. There is no full-text
// index: each call scans the visible timelines, newest first, holding at
// most a page and one more result (so memory does not grow with the
// history), and each room's scan stops once it has given its part of the
// page and searchCountCap matches are counted. Ranking is by recency for
// both order_by values.
//
// next_batch is "p<pos>": the next page holds the matches older than the
// stream position pos, so it continues where the page ended even while
// new events arrive. count (approximate in the spec) counts the matches
// older than the token: it is exact below searchCountCap and is the cap
// when there are more.
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
	before, skip, err := parseSearchBatch(req.NextBatch)
	if err != nil {
		return nil, err
	}
	limit := req.Filter.limit(10, 100)
	if limit < 1 {
		limit = 10 // a negative limit from the client
	}
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	filter := req.Filter.withIgnored(ignored)
	need := skip + limit + 1 // the page, what it skips, and one to know a next page exists
	var hits []*Event        // newest first, at most need
	counted := 0
	for _, m := range s.userMemberships(dev.UserID) {
		if m.forgotten || (m.membership != spec.Join && m.membership != spec.Leave && m.membership != spec.Ban) || !filter.allowsRoom(m.roomID) {
			continue
		}
		v, err := s.viewOf(ctx, dev.UserID, m.roomID)
		if err != nil {
			continue // no longer visible
		}
		hi := min(s.committedPos(), v.upTo)
		if before > 0 {
			hi = min(hi, before-1)
		}
		var roomHits []*Event // newest first
		keep := func(pdu []byte) bool { return contentMatches(gjson.GetBytes(pdu, "content"), fields, words) }
		_, err = s.scanWhere(ctx, v, 0, hi, true, relationScanBatch, keep, func(e *Event) (bool, error) {
			if !filter.allowsEvent(e) || !matchesSearch(e, fields, words) {
				return true, nil
			}
			counted++
			// Older matches of this room can enter the page only while
			// the page is not full of newer ones.
			wanted := len(roomHits) < need && (len(hits) < need || e.Pos > hits[need-1].Pos)
			if wanted {
				roomHits = append(roomHits, e)
			}
			return wanted || counted < searchCountCap, nil
		})
		if err != nil {
			return nil, err
		}
		hits = append(hits, roomHits...)
		slices.SortFunc(hits, func(a, b *Event) int { return cmp.Compare(b.Pos, a.Pos) })
		hits = hits[:min(len(hits), need)]
	}
	resp := &SearchResponse{Results: []SearchResult{}, Count: min(counted, max(searchCountCap, len(hits))), Highlights: words}
	for i := skip; i < len(hits); i++ {
		if len(resp.Results) == limit {
			resp.NextBatch = "p" + strconv.FormatInt(hits[i-1].Pos, 10)
			break
		}
		resp.Results = append(resp.Results, SearchResult{Rank: 1, Result: hits[i].JSON(dev.UserID, dev.DeviceID)})
	}
	return resp, nil
}

// parseSearchBatch reads a next_batch: "p<pos>" (results older than pos)
// or the earlier "t<n>" (skip the n newest results).
func parseSearchBatch(tok string) (before int64, skip int, err error) {
	if tok == "" {
		return 0, 0, nil
	}
	bad := homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid next_batch %q", tok)
	switch tok[0] {
	case 'p':
		n, err := strconv.ParseInt(tok[1:], 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, bad
		}
		return n, 0, nil
	case 't':
		n, err := strconv.Atoi(tok[1:])
		if err != nil || n < 0 || n > searchMaxSkip {
			return 0, 0, bad
		}
		return 0, n, nil
	}
	return 0, 0, bad
}

// matchesSearch reports whether one of the fields of e's content holds
// every word.
func matchesSearch(e *Event, fields, words []string) bool {
	return contentMatches(gjson.ParseBytes(e.PDU.Content()), fields, words)
}

// contentMatches reports whether one of the fields of content holds every
// word. It reads the fields in place (no decoding of the whole content):
// a search tests many events for the few it returns.
func contentMatches(content gjson.Result, fields, words []string) bool {
	for _, f := range fields {
		r := content.Get(f)
		if r.Type != gjson.String || r.Str == "" {
			continue
		}
		v := strings.ToLower(r.Str)
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
