package clientapi

import "strings"

// Push rules: the spec's predefined ruleset ("Predefined Rules") for each
// user, with the user's own rules and the enabled/actions changes made to
// predefined ones (pushrules_edit.go).

type pushCondition map[string]any

type pushRule struct {
	RuleID     string          `json:"rule_id"`
	Default    bool            `json:"default"`
	Enabled    bool            `json:"enabled"`
	Conditions []pushCondition `json:"conditions,omitempty"`
	Pattern    string          `json:"pattern,omitempty"`
	Actions    []any           `json:"actions"`
}

var (
	actNotify    = "notify"
	soundDefault = map[string]any{"set_tweak": "sound", "value": "default"}
	soundRing    = map[string]any{"set_tweak": "sound", "value": "ring"}
	highlight    = map[string]any{"set_tweak": "highlight"}
)

func match(key, pattern string) pushCondition {
	return pushCondition{"kind": "event_match", "key": key, "pattern": pattern}
}

func propertyIs(key string, value any) pushCondition {
	return pushCondition{"kind": "event_property_is", "key": key, "value": value}
}

func rule(id string, conds []pushCondition, actions ...any) pushRule {
	if conds == nil {
		conds = []pushCondition{}
	}
	if actions == nil {
		actions = []any{}
	}
	return pushRule{RuleID: id, Default: true, Enabled: true, Conditions: conds, Actions: actions}
}

// defaultPushRules returns the predefined rules of user @local:server.
func defaultPushRules(userID string) map[string][]pushRule {
	local := strings.TrimPrefix(userID, "@")
	local, _, _ = strings.Cut(local, ":")
	master := rule(".m.rule.master", nil)
	master.Enabled = false
	override := []pushRule{
		master,
		rule(".m.rule.suppress_notices", []pushCondition{match("content.msgtype", "m.notice")}),
		rule(".m.rule.invite_for_me", []pushCondition{match("type", "m.room.member"),
			match("content.membership", "invite"), match("state_key", userID)}, actNotify, soundDefault),
		rule(".m.rule.member_event", []pushCondition{match("type", "m.room.member")}),
		rule(".m.rule.is_user_mention", []pushCondition{{"kind": "event_property_contains",
			"key": `content.m\.mentions.user_ids`, "value": userID}}, actNotify, soundDefault, highlight),
		rule(".m.rule.contains_display_name", []pushCondition{{"kind": "contains_display_name"}}, actNotify, soundDefault, highlight),
		rule(".m.rule.is_room_mention", []pushCondition{propertyIs(`content.m\.mentions.room`, true),
			{"kind": "sender_notification_permission", "key": "room"}}, actNotify, highlight),
		rule(".m.rule.roomnotif", []pushCondition{{"kind": "sender_notification_permission", "key": "room"},
			match("content.body", "@room")}, actNotify, highlight),
		rule(".m.rule.tombstone", []pushCondition{match("type", "m.room.tombstone"), match("state_key", "")}, actNotify, highlight),
		rule(".m.rule.reaction", []pushCondition{match("type", "m.reaction")}),
		rule(".m.rule.server_acl", []pushCondition{match("type", "m.room.server_acl"), match("state_key", "")}),
		rule(".m.rule.suppress_edits", []pushCondition{propertyIs(`content.m\.relates_to.rel_type`, "m.replace")}),
	}
	userName := pushRule{RuleID: ".m.rule.contains_user_name", Default: true, Enabled: true, Pattern: local,
		Actions: []any{actNotify, soundDefault, highlight}}
	underride := []pushRule{
		rule(".m.rule.call", []pushCondition{match("type", "m.call.invite")}, actNotify, soundRing),
		rule(".m.rule.encrypted_room_one_to_one", []pushCondition{{"kind": "room_member_count", "is": "2"},
			match("type", "m.room.encrypted")}, actNotify, soundDefault),
		rule(".m.rule.room_one_to_one", []pushCondition{{"kind": "room_member_count", "is": "2"},
			match("type", "m.room.message")}, actNotify, soundDefault),
		rule(".m.rule.message", []pushCondition{match("type", "m.room.message")}, actNotify),
		rule(".m.rule.encrypted", []pushCondition{match("type", "m.room.encrypted")}, actNotify),
	}
	return map[string][]pushRule{
		"override":  override,
		"content":   {userName},
		"room":      {},
		"sender":    {},
		"underride": underride,
	}
}
