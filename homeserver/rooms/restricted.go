package rooms

import (
	"encoding/json"
	"sort"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// Join rules beyond the ones GMSL names in spec.
const (
	joinRuleRestricted      = "restricted"
	joinRuleKnockRestricted = "knock_restricted"
	allowRoomMembership     = "m.room_membership"
)

// joinRules is the committed join rule of a room and, for the restricted
// rules, the rooms whose members may join without an invite.
type joinRules struct {
	rule         string
	allowedRooms []string
}

// joinRulesOf reads r's committed m.room.join_rules ("invite" when absent
// or malformed, as the auth rules treat it).
func joinRulesOf(r *room) joinRules {
	jr := joinRules{rule: spec.Invite}
	e := r.stateEvent(spec.MRoomJoinRules, "")
	if e == nil {
		return jr
	}
	var c struct {
		JoinRule string            `json:"join_rule"`
		Allow    []json.RawMessage `json:"allow"`
	}
	if json.Unmarshal(e.PDU.Content(), &c) != nil || c.JoinRule == "" {
		return jr
	}
	jr.rule = c.JoinRule
	for _, raw := range c.Allow {
		var a struct {
			Type   string `json:"type"`
			RoomID string `json:"room_id"`
		}
		if json.Unmarshal(raw, &a) == nil && a.Type == allowRoomMembership && a.RoomID != "" {
			jr.allowedRooms = append(jr.allowedRooms, a.RoomID)
		}
	}
	return jr
}

// restricted reports whether the rule admits members of allowed rooms.
func (jr joinRules) restricted() bool {
	return jr.rule == joinRuleRestricted || jr.rule == joinRuleKnockRestricted
}

// allowedByMembership reports whether userID is joined to one of the allowed rooms.
func (s *Service) allowedByMembership(jr joinRules, userID string) bool {
	for _, id := range jr.allowedRooms {
		if s.membershipOf(userID, id).membership == spec.Join {
			return true
		}
	}
	return false
}

// restrictedJoinAuthoriser decides a join under a restricted join rule.
// It returns "" when the join needs no authorisation (another join rule,
// or the user is invited or already joined), the local user to name in
// join_authorised_via_users_server when the user is a member of an allowed
// room, and M_FORBIDDEN otherwise. The auth rules require the authoriser
// to be joined with invite power.
func (s *Service) restrictedJoinAuthoriser(r *room, userID string) (string, error) {
	jr := joinRulesOf(r)
	if !jr.restricted() {
		return "", nil
	}
	switch s.membershipOf(userID, r.id).membership {
	case spec.Invite, spec.Join:
		return "", nil
	}
	if !s.allowedByMembership(jr, userID) {
		return "", homeserver.Errorf(homeserver.ErrForbidden,
			"You are not invited to %s and not a member of a room its join rule allows", r.id)
	}
	type cand struct {
		user  string
		level int64
	}
	var cands []cand
	for _, e := range r.currentState() {
		if e.Type != spec.MRoomMember || e.Membership() != spec.Join || e.StateKey == nil {
			continue
		}
		u, err := spec.NewUserID(*e.StateKey, true)
		if err != nil || !s.isLocal(u) {
			continue
		}
		level, pl := r.powerLevel(*e.StateKey)
		need := int64(0) // no power levels: anyone may invite
		if pl != nil {
			need = pl.Invite
		}
		if level >= need {
			cands = append(cands, cand{*e.StateKey, level})
		}
	}
	if len(cands) == 0 {
		return "", &homeserver.Error{Code: "M_UNABLE_TO_AUTHORISE_JOIN", Status: 400,
			Message: "No local member of " + r.id + " may invite, so the join cannot be authorised"}
	}
	// The most powerful member is the least likely to lose invite power
	// while the join is built; ties break on the user ID for determinism.
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].level != cands[j].level {
			return cands[i].level > cands[j].level
		}
		return cands[i].user < cands[j].user
	})
	return cands[0].user, nil
}
