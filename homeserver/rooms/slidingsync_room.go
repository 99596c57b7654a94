package rooms

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// maxHeroes is how many members describe a room without a name.
const maxHeroes = 5

// slidingRoom builds one room of the response, or nil when the client
// already has everything of it. old is what the connection sent before
// (nil: the room is new to it); connSince is the stream position of the
// previous response (for num_live). It returns what the client has after
// this response.
func (s *Service) slidingRoom(ctx context.Context, dev homeserver.Device, w *windowRoom, old *sentRoom, hadPrev bool,
	connSince, pos int64, ignored map[string]bool) (*SlidingRoom, sentRoom, error) {
	c, r, m := w.c, w.c.r, w.c.m
	stateKey := w.spec.key()
	// A room is sent in full on its first appearance and when the user
	// joined it (from an invite or again after leaving). A larger
	// timeline than the one sent brings the latest events again, older
	// ones included (expanded_timeline).
	initial := old == nil || (old.membership != spec.Join && m.membership == spec.Join)
	expanded := !initial && w.limit > old.limit
	hi := pos
	if m.membership == spec.Leave || m.membership == spec.Ban {
		hi = m.pos
	}
	sent := sentRoom{pos: hi, limit: w.limit, stateKey: stateKey, membership: m.membership}
	if !initial {
		sent.limit = max(w.limit, old.limit)
	}
	out := &SlidingRoom{Initial: initial, BumpStamp: c.bump, IsDM: c.dm, Membership: m.membership, InLists: w.lists}

	if m.membership == spec.Invite || m.membership == spec.Knock {
		// Not in the room: only the stripped state, once.
		if old != nil && old.membership == m.membership {
			return nil, sent, nil
		}
		out.Initial = true
		if m.membership == spec.Invite {
			out.InviteState = inviteState(r, dev.UserID)
		} else {
			out.KnockState = inviteState(r, dev.UserID)
		}
		return out, sent, nil
	}

	var roomSince int64
	if !initial {
		roomSince = old.pos
	}
	r.view.RLock()
	last := min(r.lastPos, hi)
	var ownReceipt int64
	for _, typ := range []string{"m.read", "m.read.private"} {
		if rc, ok := r.receipts[receiptKey{dev.UserID, typ, ""}]; ok {
			ownReceipt = max(ownReceipt, rc.Pos)
		}
	}
	r.view.RUnlock()
	stateChanged := !initial && stateGrew(old.stateKey, stateKey)
	if !initial && !expanded && !stateChanged && last <= roomSince && m.pos <= roomSince && ownReceipt <= roomSince {
		return nil, sent, nil
	}

	// Timeline: the newest events after what the client has.
	v, err := s.memberView(ctx, r, m, dev.UserID, hi)
	if err != nil {
		return nil, sent, err
	}
	tf := (*RoomEventFilter)(nil).withIgnored(ignored)
	lo := roomSince
	if expanded {
		lo = 0
	}
	evs, limited, err := s.timeline(ctx, v, lo, hi, w.limit, tf)
	if err != nil {
		return nil, sent, err
	}
	out.Limited = limited
	if expanded && len(evs) > 0 && evs[0].Pos <= roomSince {
		out.ExpandedTimeline, out.UnstableExpanded = true, true
	}
	out.Timeline = make([]json.RawMessage, 0, len(evs))
	senders := map[string]bool{}
	live := 0
	for _, e := range evs {
		out.Timeline = append(out.Timeline, e.JSON(dev.UserID, dev.DeviceID))
		senders[e.Sender] = true
		if e.Type == spec.MRoomMember {
			senders[*e.StateKey] = true // lazy loading covers membership targets too
		}
		if hadPrev && e.Pos > connSince {
			live++
		}
	}
	if len(evs) > 0 {
		out.PrevBatch = formatToken(evs[0].Pos - 1)
	} else if initial || limited || expanded {
		out.PrevBatch = formatToken(hi)
	}
	out.NumLive = &live

	// Required state: all of it that matches on first sight (or when the
	// client asks for more), afterwards what changed, and the members
	// of the timeline's senders under $LAZY.
	st := r.currentState()
	sortEvents(st)
	joined, invited := 0, 0
	var members []*Event
	membersChanged := initial
	sentIDs := map[string]bool{}
	for _, e := range st {
		if e.Pos > hi {
			continue
		}
		if e.Type == spec.MRoomMember {
			switch e.Membership() {
			case spec.Join:
				joined++
				members = append(members, e)
			case spec.Invite:
				invited++
				members = append(members, e)
			}
			if e.Pos > roomSince {
				membersChanged = true
			}
		}
		fresh := initial || stateChanged || e.Pos > roomSince
		lazy := w.spec.lazy && e.Type == spec.MRoomMember && senders[*e.StateKey]
		if (fresh && w.spec.matches(e.Type, *e.StateKey)) || lazy {
			out.RequiredState = append(out.RequiredState, e.JSON(dev.UserID, dev.DeviceID))
			sentIDs[e.ID] = true
		}
		switch e.Type {
		case spec.MRoomName:
			if fresh {
				out.Name = stateString(r, spec.MRoomName, "name")
			}
		case spec.MRoomAvatar:
			if fresh {
				out.Avatar = json.RawMessage("null")
				if url := stateString(r, spec.MRoomAvatar, "url"); url != "" {
					out.Avatar = mustJSON(url)
				}
			}
		}
	}
	if c.name == "" && membersChanged {
		out.Heroes = heroes(members, dev.UserID)
	}
	out.JoinedCount, out.InvitedCount = &joined, &invited
	if m.membership == spec.Join {
		u, err := s.unread(ctx, r, dev.UserID, m.joinedAt, pos)
		if err != nil {
			return nil, sent, err
		}
		out.NotificationCount, out.HighlightCount = &u.Notification, &u.Highlight
	}
	return out, sent, nil
}

// heroes picks up to maxHeroes other members, joined before invited, in
// state order.
func heroes(members []*Event, self string) []SlidingHero {
	out := []SlidingHero{}
	for _, want := range []string{spec.Join, spec.Invite} {
		for _, e := range members {
			if len(out) == maxHeroes {
				return out
			}
			if *e.StateKey == self || e.Membership() != want {
				continue
			}
			var c struct {
				DisplayName string `json:"displayname"`
				AvatarURL   string `json:"avatar_url"`
			}
			_ = json.Unmarshal(e.PDU.Content(), &c)
			out = append(out, SlidingHero{UserID: *e.StateKey, DisplayName: c.DisplayName, AvatarURL: c.AvatarURL})
		}
	}
	return out
}

// slidingAccountData builds the account_data extension: global data and
// that of the rooms in scope changed since the previous response, all of
// it for a new connection and for rooms the response sends in full.
func (s *Service) slidingAccountData(ctx context.Context, dev homeserver.Device, fresh bool, global []adEntry,
	perRoom map[string][]adEntry, resp *SlidingResponse, inScope map[string]bool, pos int64) (*SlidingAccountData, error) {
	out := &SlidingAccountData{Global: []json.RawMessage{}, Rooms: map[string][]json.RawMessage{}}
	for _, a := range global {
		out.Global = append(out.Global, a.json())
	}
	var all map[string][]adEntry
	for id := range inScope {
		entries := perRoom[id]
		if r := resp.Rooms[id]; r != nil && r.Initial && !fresh {
			if all == nil {
				var err error
				if _, all, err = s.accountDataSince(ctx, dev.UserID, 0, pos); err != nil {
					return nil, err
				}
			}
			entries = all[id]
		}
		for _, a := range entries {
			out.Rooms[id] = append(out.Rooms[id], a.json())
		}
	}
	return out, nil
}

// SlidingMemberEvents returns, for each room dev's user is joined to, the
// membership events of others in (since, pos], and all current joined
// members of a room the user joined in that range: what the e2ee
// extension needs to list device list changes of room mates, whichever
// rooms the lists show (Element X asks for e2ee on a connection with no
// lists at all).
func (s *Service) SlidingMemberEvents(ctx context.Context, dev homeserver.Device, since, pos int64) (map[string][]json.RawMessage, error) {
	out := map[string][]json.RawMessage{}
	members := &RoomEventFilter{EventFilter: EventFilter{Types: &[]string{spec.MRoomMember}}}
	for _, m := range s.userMemberships(dev.UserID) {
		if m.membership != spec.Join || m.forgotten || m.pos > pos {
			continue
		}
		r, err := s.room(ctx, m.roomID)
		if err != nil {
			s.log.Warn("sliding sync: cannot load room", "room", m.roomID, "err", err)
			continue
		}
		if m.joinedAt > since {
			for _, e := range r.currentState() {
				if e.Type == spec.MRoomMember && e.Membership() == spec.Join && *e.StateKey != dev.UserID {
					out[m.roomID] = append(out[m.roomID], e.JSON(dev.UserID, dev.DeviceID))
				}
			}
			continue
		}
		r.view.RLock()
		last := r.lastPos
		r.view.RUnlock()
		if last <= since {
			continue
		}
		v, err := s.memberView(ctx, r, m, dev.UserID, pos)
		if err != nil {
			return nil, err
		}
		evs, _, err := s.timeline(ctx, v, since, pos, maxSlidingTimelineLimit, members)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			out[m.roomID] = append(out[m.roomID], e.JSON(dev.UserID, dev.DeviceID))
		}
	}
	return out, nil
}

// stateGrew reports whether the required_state key now asks for an entry
// the old one did not: only then is the matching state sent again (a
// narrower request needs nothing new).
func stateGrew(oldKey, newKey string) bool {
	if oldKey == newKey || newKey == "" {
		return false
	}
	had := map[string]bool{}
	for _, e := range strings.Split(oldKey, "\x01") {
		had[e] = true
	}
	for _, e := range strings.Split(newKey, "\x01") {
		if !had[e] {
			return true
		}
	}
	return false
}
