package rooms

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"scop/homeserver"
)

// maxTypingTimeout caps how long a typing notification lasts.
const maxTypingTimeout = 120 * time.Second

// typingState holds who is typing where. It is ephemeral (not stored):
// each change bumps a global generation that sync tokens carry.
type typingState struct {
	mu    sync.Mutex
	gen   int64
	rooms map[string]*roomTyping
}

type roomTyping struct {
	gen   int64 // generation of the last change
	users map[string]*time.Timer
}

func newTypingState() *typingState { return &typingState{rooms: map[string]*roomTyping{}} }

// set starts or stops userID typing in roomID; it returns whether anything changed.
func (t *typingState) set(roomID, userID string, typing bool, timeout time.Duration, onExpire func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rt := t.rooms[roomID]
	if rt == nil {
		rt = &roomTyping{users: map[string]*time.Timer{}}
		t.rooms[roomID] = rt
	}
	old, was := rt.users[userID]
	if was {
		old.Stop()
		delete(rt.users, userID)
	}
	if typing {
		var tm *time.Timer
		// The callback takes t.mu, which is held until tm is assigned.
		tm = time.AfterFunc(timeout, func() {
			t.mu.Lock()
			expired := rt.users[userID] == tm
			if expired {
				delete(rt.users, userID)
				t.gen++
				rt.gen = t.gen
			}
			t.mu.Unlock()
			if expired {
				onExpire()
			}
		})
		rt.users[userID] = tm
	}
	if !was && !typing {
		return false
	}
	t.gen++
	rt.gen = t.gen
	return true
}

// since returns the typing users of roomID if they changed after gen
// (always when gen is 0 and someone types), and the current generation.
func (t *typingState) since(roomID string, gen int64) (users []string, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rt := t.rooms[roomID]
	if rt == nil || (rt.gen <= gen && gen != 0) || (gen == 0 && len(rt.users) == 0) {
		return nil, false
	}
	users = make([]string, 0, len(rt.users))
	for u := range rt.users {
		users = append(users, u)
	}
	sort.Strings(users)
	return users, true
}

func (t *typingState) generation() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

// typingEvent renders an m.typing ephemeral event.
func typingEvent(users []string) json.RawMessage {
	return mustJSON(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": users}})
}

// SetTyping handles PUT /rooms/{roomId}/typing/{userId}.
func (s *Service) SetTyping(ctx context.Context, dev homeserver.Device, roomID, userID string, typing bool, timeoutMS int64) error {
	if err := parseRoomID(roomID); err != nil {
		return err
	}
	if userID != dev.UserID {
		return homeserver.Errorf(homeserver.ErrForbidden, "Cannot set another user's typing state")
	}
	if m := s.membershipOf(dev.UserID, roomID); m.membership != "join" {
		return homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	}
	timeout := time.Duration(timeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > maxTypingTimeout {
		timeout = 30 * time.Second
		if timeoutMS > 0 {
			timeout = maxTypingTimeout
		}
	}
	if s.typing.set(roomID, userID, typing, timeout, s.notify.poke) {
		s.notify.poke()
	}
	return nil
}
