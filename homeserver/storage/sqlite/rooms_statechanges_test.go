package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"scop/homeserver/storage"
)

// TestRoomStateChanges: only the state events of the asked types of the
// asked room in (after, upTo] come back, oldest first, at most limit.
func TestRoomStateChanges(t *testing.T) {
	ctx := context.Background()
	s := newRoomsStore(t)
	const (
		tMsg, tMember, tHV, tTopic = 1, 2, 3, 4
	)
	b := &storage.Batch{
		Types: []storage.Name{{NID: tMsg, Name: "m.room.message"}, {NID: tMember, Name: "m.room.member"},
			{NID: tHV, Name: "m.room.history_visibility"}, {NID: tTopic, Name: "m.room.topic"}},
		StateKeys: []storage.Name{{NID: 1, Name: ""}, {NID: 2, Name: "@a:t"}},
		Rooms: []storage.Room{{NID: 1, RoomID: "!r:t", Version: "11", LatestEvents: []string{"$x"}},
			{NID: 2, RoomID: "!s:t", Version: "11", LatestEvents: []string{"$y"}}},
	}
	// Room 1: positions 1..40, a member event every 5th, a
	// history_visibility at 7, a topic at 8; room 2: a member event at
	// every position from 41 on. The rest are messages.
	var want []int64
	for pos := int64(1); pos <= 60; pos++ {
		e := storage.Event{NID: pos, EventID: fmt.Sprintf("$e%d", pos), RoomNID: 1, Pos: pos, TypeNID: tMsg,
			Sender: "@a:t", PDU: []byte(fmt.Sprintf(`{"pos":%d}`, pos)), Client: []byte(`{}`), Unsigned: []byte(`{}`)}
		switch {
		case pos > 40:
			e.RoomNID, e.TypeNID, e.StateKeyNID, e.IsState = 2, tMember, 2, true
		case pos%5 == 0:
			e.TypeNID, e.StateKeyNID, e.IsState = tMember, 2, true
		case pos == 7:
			e.TypeNID, e.StateKeyNID, e.IsState = tHV, 1, true
		case pos == 8:
			e.TypeNID, e.StateKeyNID, e.IsState = tTopic, 1, true
		}
		if e.RoomNID == 1 && (e.TypeNID == tMember || e.TypeNID == tHV) {
			want = append(want, pos)
		}
		b.Events = append(b.Events, e)
	}
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	types := []int64{tHV, tMember}
	tests := []struct {
		name        string
		after, upTo int64
		limit       int
		want        []int64
	}{
		{"all", 0, 100, 100, want},
		{"limited", 0, 100, 3, want[:3]},
		{"resumed", want[2], 100, 3, want[3:6]},
		{"range", 6, 20, 100, []int64{7, 10, 15, 20}},
		{"empty", 20, 24, 100, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.RoomStateChanges(ctx, 1, types, tc.after, tc.upTo, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var pos []int64
			for _, c := range got {
				if string(c.PDU) != fmt.Sprintf(`{"pos":%d}`, c.Pos) || (c.TypeNID != tMember && c.TypeNID != tHV) {
					t.Errorf("row %+v", c)
				}
				pos = append(pos, c.Pos)
			}
			if fmt.Sprint(pos) != fmt.Sprint(tc.want) {
				t.Errorf("positions %v, want %v", pos, tc.want)
			}
		})
	}
	if got, err := s.RoomStateChanges(ctx, 1, nil, 0, 100, 10); err != nil || len(got) != 0 {
		t.Errorf("no types: %v %v", got, err)
	}
}

// TestRoomStateChangesPlan: the query walks the partial index of state
// events (no full scan of the room's timeline, no sort).
func TestRoomStateChangesPlan(t *testing.T) {
	ctx := context.Background()
	s := newRoomsStore(t)
	// Without statistics SQLite would take events_room_pos (same
	// leading columns), which visits every event: the query names its
	// index, and this checks that the index is usable for it.
	rows, err := s.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+roomStateChangesQuery("?,?"), 1, 0, 100, 2, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "; ")
	if !strings.Contains(p, "events_room_state_pos") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("plan without the state index or with a sort: %s", p)
	}
	t.Logf("plan: %s", p)
}
