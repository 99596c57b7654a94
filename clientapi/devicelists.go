package clientapi

import (
	"context"
	"encoding/json"
	"slices"

	"scop/homeserver"
	"scop/homeserver/rooms"
)

// roomMateSet is the set of users sharing a joined room with dev, dev's
// own user included.
func (a *API) roomMateSet(ctx context.Context, dev homeserver.Device) map[string]bool {
	mates := map[string]bool{dev.UserID: true}
	tr := a.toDevice
	if tr == nil || tr.mates == nil {
		return mates
	}
	for _, roomID := range tr.mates.JoinedRooms(ctx, dev) {
		ms, err := tr.mates.JoinedMembers(ctx, dev, roomID)
		if err != nil {
			continue // left meanwhile
		}
		for u := range ms {
			mates[u] = true
		}
	}
	return mates
}

// addMembershipChanges completes device_lists from the membership events
// of the joined rooms in resp: a user who joined is in changed (the
// client must fetch their devices), one who left or was banned and now
// shares no room with dev is in left.
func (a *API) addMembershipChanges(ctx context.Context, dev homeserver.Device, resp *rooms.SyncResponse, lists *deviceLists) {
	joined, gone := map[string]bool{}, map[string]bool{}
	for _, jr := range resp.Rooms.Join {
		for _, evs := range [][]json.RawMessage{jr.State.Events, jr.Timeline.Events} {
			for _, raw := range evs {
				var e struct {
					Type     string  `json:"type"`
					StateKey *string `json:"state_key"`
					Content  struct {
						Membership string `json:"membership"`
					} `json:"content"`
				}
				if json.Unmarshal(raw, &e) != nil || e.Type != "m.room.member" || e.StateKey == nil || *e.StateKey == dev.UserID {
					continue
				}
				switch e.Content.Membership {
				case "join":
					joined[*e.StateKey], gone[*e.StateKey] = true, false
				case "leave", "ban":
					gone[*e.StateKey], joined[*e.StateKey] = true, false
				}
			}
		}
	}
	if len(joined)+len(gone) == 0 {
		return
	}
	mates := a.roomMateSet(ctx, dev)
	for u, ok := range joined {
		if ok && mates[u] && !slices.Contains(lists.Changed, u) {
			lists.Changed = append(lists.Changed, u)
		}
	}
	for u, ok := range gone {
		if ok && !mates[u] && !slices.Contains(lists.Left, u) {
			lists.Left = append(lists.Left, u)
		}
	}
	slices.Sort(lists.Changed)
	slices.Sort(lists.Left)
}
