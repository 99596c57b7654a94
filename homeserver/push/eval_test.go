package push_test

import (
	"encoding/json"
	"slices"
	"testing"

	"scop/homeserver/push"
)

const alice = "@alice:example.org"

func ev(t testing.TB, js string) *push.Event {
	t.Helper()
	e, err := push.ParseEvent([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return e
}

func TestPredefinedRules(t *testing.T) {
	evl := push.Compile(push.Predefined(alice))
	env := func(members int) *push.Env {
		return &push.Env{UserID: alice, DisplayName: "Alice Liddell", MemberCount: members, SenderPowerLevel: 0}
	}
	mod := &push.Env{UserID: alice, DisplayName: "Alice", MemberCount: 5, SenderPowerLevel: 50}
	cases := []struct {
		name              string
		event             string
		env               *push.Env
		rule              string
		notify, highlight bool
		sound             string
	}{
		{"message in a group", `{"type":"m.room.message","sender":"@bob:x","content":{"msgtype":"m.text","body":"hi"}}`, env(5), ".m.rule.message", true, false, ""},
		{"message one to one", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hi"}}`, env(2), ".m.rule.room_one_to_one", true, false, "default"},
		{"encrypted one to one", `{"type":"m.room.encrypted","sender":"@bob:x","content":{}}`, env(2), ".m.rule.encrypted_room_one_to_one", true, false, "default"},
		{"encrypted group", `{"type":"m.room.encrypted","sender":"@bob:x","content":{}}`, env(3), ".m.rule.encrypted", true, false, ""},
		{"notice", `{"type":"m.room.message","sender":"@bob:x","content":{"msgtype":"m.notice","body":"alice"}}`, env(2), ".m.rule.suppress_notices", false, false, ""},
		{"user mention", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hey","m.mentions":{"user_ids":["@alice:example.org"]}}}`, env(5), ".m.rule.is_user_mention", true, true, "default"},
		{"other user's mention", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hey","m.mentions":{"user_ids":["@carol:example.org"]}}}`, env(5), ".m.rule.message", true, false, ""},
		{"display name", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"ping alice liddell!"}}`, env(5), ".m.rule.contains_display_name", true, true, "default"},
		{"display name inside a word", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"xalice liddellx"}}`, env(5), ".m.rule.message", true, false, ""},
		{"user name", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"ALICE: look"}}`, env(5), ".m.rule.contains_user_name", true, true, "default"},
		{"user name inside a word", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"malice"}}`, env(5), ".m.rule.message", true, false, ""},
		{"room mention by moderator", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"all","m.mentions":{"room":true}}}`, mod, ".m.rule.is_room_mention", true, true, ""},
		{"room mention without power", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"all","m.mentions":{"room":true}}}`, env(5), ".m.rule.message", true, false, ""},
		{"legacy @room", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"hey @room!"}}`, mod, ".m.rule.roomnotif", true, true, ""},
		{"invite for me", `{"type":"m.room.member","state_key":"@alice:example.org","sender":"@bob:x","content":{"membership":"invite"}}`, env(5), ".m.rule.invite_for_me", true, false, "default"},
		{"other member event", `{"type":"m.room.member","state_key":"@carol:x","sender":"@carol:x","content":{"membership":"join"}}`, env(5), ".m.rule.member_event", false, false, ""},
		{"edit", `{"type":"m.room.message","sender":"@bob:x","content":{"body":"* alice","m.relates_to":{"rel_type":"m.replace"}}}`, env(5), ".m.rule.suppress_edits", false, false, ""},
		{"reaction", `{"type":"m.reaction","sender":"@bob:x","content":{}}`, env(5), ".m.rule.reaction", false, false, ""},
		{"tombstone", `{"type":"m.room.tombstone","state_key":"","sender":"@bob:x","content":{}}`, env(5), ".m.rule.tombstone", true, true, ""},
		{"call", `{"type":"m.call.invite","sender":"@bob:x","content":{}}`, env(5), ".m.rule.call", true, false, "ring"},
		{"unknown type", `{"type":"m.room.topic","state_key":"","sender":"@bob:x","content":{}}`, env(5), "", false, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := evl.Evaluate(ev(t, c.event), c.env)
			if a.RuleID != c.rule || a.Notify != c.notify || a.Highlight != c.highlight || a.Sound != c.sound {
				t.Fatalf("got %+v, want rule %s notify %v highlight %v sound %q", a, c.rule, c.notify, c.highlight, c.sound)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	event := ev(t, `{"type":"m.room.message","room_id":"!r:x","sender":"@bob:x","content":{"body":"Lunch at noon?",
		"m.relates_to":{"rel_type":"m.thread"},"a.b":{"c\\d":"dotted"},"n":5,"flag":false,"none":null,"list":["x",3,true]}}`)
	cases := []struct {
		name string
		cond push.Condition
		env  push.Env
		want bool
	}{
		{"glob star", push.Condition{"kind": "event_match", "key": "type", "pattern": "m.room.*"}, push.Env{}, true},
		{"glob whole value", push.Condition{"kind": "event_match", "key": "type", "pattern": "m.room"}, push.Env{}, false},
		{"glob question mark", push.Condition{"kind": "event_match", "key": "type", "pattern": "m.room.messag?"}, push.Env{}, true},
		{"glob case-insensitive", push.Condition{"kind": "event_match", "key": "type", "pattern": "M.ROOM.MESSAGE"}, push.Env{}, true},
		{"body word", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "lunch"}, push.Env{}, true},
		{"body word glob", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "no*"}, push.Env{}, true},
		{"body part of word", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "lun"}, push.Env{}, false},
		{"body glob part of word", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "?unc"}, push.Env{}, false},
		{"non-string value", push.Condition{"kind": "event_match", "key": "content.n", "pattern": "5"}, push.Env{}, false},
		{"missing key", push.Condition{"kind": "event_match", "key": "content.nope", "pattern": "*"}, push.Env{}, false},
		{"escaped dots", push.Condition{"kind": "event_match", "key": `content.a\.b.c\d`, "pattern": "dotted"}, push.Env{}, true},
		{"unescaped dots", push.Condition{"kind": "event_match", "key": `content.a.b.c\d`, "pattern": "dotted"}, push.Env{}, false},
		{"property is string", push.Condition{"kind": "event_property_is", "key": `content.m\.relates_to.rel_type`, "value": "m.thread"}, push.Env{}, true},
		{"property is number", push.Condition{"kind": "event_property_is", "key": "content.n", "value": 5.0}, push.Env{}, true},
		{"property is false", push.Condition{"kind": "event_property_is", "key": "content.flag", "value": false}, push.Env{}, true},
		{"property is null", push.Condition{"kind": "event_property_is", "key": "content.none", "value": nil}, push.Env{}, true},
		{"property is missing null", push.Condition{"kind": "event_property_is", "key": "content.absent", "value": nil}, push.Env{}, false},
		{"property is case-sensitive", push.Condition{"kind": "event_property_is", "key": `content.m\.relates_to.rel_type`, "value": "M.THREAD"}, push.Env{}, false},
		{"property contains", push.Condition{"kind": "event_property_contains", "key": "content.list", "value": 3.0}, push.Env{}, true},
		{"property contains not", push.Condition{"kind": "event_property_contains", "key": "content.list", "value": "y"}, push.Env{}, false},
		{"property contains non-array", push.Condition{"kind": "event_property_contains", "key": "content.n", "value": 5.0}, push.Env{}, false},
		{"member count ==", push.Condition{"kind": "room_member_count", "is": "==3"}, push.Env{MemberCount: 3}, true},
		{"member count bare", push.Condition{"kind": "room_member_count", "is": "3"}, push.Env{MemberCount: 4}, false},
		{"member count <", push.Condition{"kind": "room_member_count", "is": "<3"}, push.Env{MemberCount: 2}, true},
		{"member count >", push.Condition{"kind": "room_member_count", "is": ">3"}, push.Env{MemberCount: 3}, false},
		{"member count <=", push.Condition{"kind": "room_member_count", "is": "<=3"}, push.Env{MemberCount: 3}, true},
		{"member count >=", push.Condition{"kind": "room_member_count", "is": ">=3"}, push.Env{MemberCount: 2}, false},
		{"member count garbage", push.Condition{"kind": "room_member_count", "is": "lots"}, push.Env{MemberCount: 2}, false},
		{"notification permission custom level", push.Condition{"kind": "sender_notification_permission", "key": "room"},
			push.Env{SenderPowerLevel: 10, NotificationLevels: map[string]int64{"room": 10}}, true},
		{"notification permission default 50", push.Condition{"kind": "sender_notification_permission", "key": "room"},
			push.Env{SenderPowerLevel: 49}, false},
		{"display name empty", push.Condition{"kind": "contains_display_name"}, push.Env{}, false},
		{"display name", push.Condition{"kind": "contains_display_name"}, push.Env{DisplayName: "Noon"}, true},
		{"unknown kind", push.Condition{"kind": "org.example.magic"}, push.Env{}, false},
		// The spec's glob examples against content.body.
		{"glob across words", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "at*?"}, push.Env{}, true},
		{"spec: word at the end", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "noon"}, push.Env{}, true},
		{"spec: ? is one character", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "noon?"}, push.Env{}, true},
		{"spec: part of a word", push.Condition{"kind": "event_match", "key": "content.body", "pattern": "noo"}, push.Env{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs := push.Ruleset{"override": {{RuleID: "r", Enabled: true, Conditions: []push.Condition{c.cond}, Actions: []any{"notify"}}}}
			env := c.env
			if got := push.Compile(rs).Evaluate(event, &env).Notify; got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestSpecGlobExamples: the spec's examples of content.body matching.
func TestSpecGlobExamples(t *testing.T) {
	cases := []struct {
		pattern, body string
		want          bool
	}{
		{"cake*lie", "The cake is a lie", true},
		{"cake", "Have some cake", true},
		{"cake", "Have some cakes", false},
		{"cake", "Cake!", true},
		{"ca?e", "a cave", true},
		{"ca?e", "a cane-toad", true},
		{"ca?e", "a cae", false},
		{"@room", "hi @room", true},
		{"@room", "x@room", false},
		{"lie", "dé lie", true},
		{"café", "un CAFÉ noir", true},
		{"*", "", true},
	}
	for _, c := range cases {
		t.Run(c.pattern+" in "+c.body, func(t *testing.T) {
			body, _ := json.Marshal(c.body)
			e := ev(t, `{"type":"m.room.message","content":{"body":`+string(body)+`}}`)
			rs := push.Ruleset{"content": {{RuleID: "k", Enabled: true, Pattern: c.pattern, Actions: []any{"notify"}}}}
			if got := push.Compile(rs).Evaluate(e, &push.Env{}).Notify; got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestActionsAndKinds(t *testing.T) {
	e := ev(t, `{"type":"m.room.message","room_id":"!r:x","sender":"@bob:x","content":{"body":"hi"}}`)
	env := &push.Env{UserID: alice, MemberCount: 5}
	cases := []struct {
		name    string
		rs      push.Ruleset
		notify  bool
		hl      bool
		rule    string
		tweaks  map[string]any
		enabled bool
	}{
		{"dont_notify is an empty list", push.Ruleset{"room": {{RuleID: "!r:x", Enabled: true, Actions: []any{"dont_notify"}}}}, false, false, "!r:x", nil, true},
		{"coalesce is stripped", push.Ruleset{"sender": {{RuleID: "@bob:x", Enabled: true, Actions: []any{"coalesce", "notify"}}}}, true, false, "@bob:x", nil, true},
		{"highlight false", push.Ruleset{"sender": {{RuleID: "@bob:x", Enabled: true, Actions: []any{"notify",
			map[string]any{"set_tweak": "highlight", "value": false}, map[string]any{"set_tweak": "sound", "value": "x"}}}}},
			true, false, "@bob:x", map[string]any{"sound": "x"}, true},
		{"custom tweak", push.Ruleset{"content": {{RuleID: "c", Enabled: true, Pattern: "h*", Actions: []any{"notify",
			map[string]any{"set_tweak": "org.x", "value": 1.0}, map[string]any{"set_tweak": "highlight"}}}}},
			true, true, "c", map[string]any{"org.x": 1.0, "highlight": true}, true},
		{"disabled rule", push.Ruleset{"room": {{RuleID: "!r:x", Enabled: false, Actions: []any{"notify"}}}}, false, false, "", nil, false},
		{"room rule of another room", push.Ruleset{"room": {{RuleID: "!s:x", Enabled: true, Actions: []any{"notify"}}}}, false, false, "", nil, false},
		{"override before underride", push.Ruleset{
			"underride": {{RuleID: "u", Enabled: true, Conditions: []push.Condition{}, Actions: []any{"notify"}}},
			"override":  {{RuleID: "o", Enabled: true, Conditions: []push.Condition{}, Actions: []any{}}}}, false, false, "o", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := push.Compile(c.rs).Evaluate(e, env)
			if a.Notify != c.notify || a.Highlight != c.hl || a.RuleID != c.rule {
				t.Fatalf("got %+v", a)
			}
			if c.tweaks != nil {
				got, _ := json.Marshal(a.Tweaks)
				want, _ := json.Marshal(c.tweaks)
				if string(got) != string(want) {
					t.Fatalf("tweaks %s, want %s", got, want)
				}
			}
		})
	}
}

func TestChangesRuleset(t *testing.T) {
	off := false
	c, err := push.ParseChanges([]byte(`{"rules":{"override":[{"rule_id":"mine","enabled":true,"actions":[]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Defaults["underride/.m.rule.message"] = push.Override{Enabled: &off}
	rs := c.Ruleset(alice)
	var ids []string
	for _, r := range rs["override"][:3] {
		ids = append(ids, r.RuleID)
	}
	if !slices.Equal(ids, []string{".m.rule.master", "mine", ".m.rule.suppress_notices"}) {
		t.Fatalf("override order %v", ids)
	}
	if r, ok := rs.Find("underride", ".m.rule.message"); !ok || r.Enabled {
		t.Fatalf("message rule %+v %v", r, ok)
	}
	if _, err := push.ParseChanges([]byte(`[`)); err == nil {
		t.Fatal("bad document accepted")
	}
}

func TestSplitPath(t *testing.T) {
	for in, want := range map[string][]string{
		"content.body":             {"content", "body"},
		`content.m\.mentions.room`: {"content", "m.mentions", "room"},
		`a\\.b`:                    {`a\`, "b"},
		`a\b`:                      {`a\b`},
		"":                         {""},
		`trailing\`:                {`trailing\`},
	} {
		if got := push.SplitPath(in); !slices.Equal(got, want) {
			t.Errorf("SplitPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	evl := push.Compile(push.Predefined(alice))
	e := ev(b, `{"type":"m.room.message","room_id":"!r:x","sender":"@bob:x","content":{"msgtype":"m.text","body":"just a normal message about lunch"}}`)
	env := &push.Env{UserID: alice, DisplayName: "Alice", MemberCount: 10}
	b.ReportAllocs()
	for b.Loop() {
		evl.Evaluate(e, env)
	}
}
