package clientapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"scop/clientapi"
	"scop/clientapi/clientapitest"
)

func TestPushRuleEdits(t *testing.T) {
	var told []json.RawMessage
	s := clientapitest.NewServer(t, clientapitest.Options{Accounts: clientapi.AccountOptions{
		OnPushRulesChange: func(ctx context.Context, userID string, content json.RawMessage) error {
			told = append(told, content)
			return nil
		}}})
	u := s.AddUser(t, "alice", "pw")
	other := s.AddUser(t, "bob", "pw")
	base := "/_matrix/client/v3/pushrules/global/"
	ids := func(token, kind string) []string {
		var g map[string][]struct {
			RuleID string `json:"rule_id"`
		}
		s.Do(t, "GET", base, token, nil, &g)
		var out []string
		for _, r := range g[kind] {
			out = append(out, r.RuleID)
		}
		return out
	}
	put := func(path string, body any) int { return s.Do(t, "PUT", base+path, u.Token, body, nil) }

	notify := map[string]any{"actions": []any{"notify"}}
	if st := put("room/!a:test", notify); st != 200 {
		t.Fatalf("put room rule: %d", st)
	}
	put("room/!b:test", notify)                // newest is most important
	put("room/!c:test?after=!a:test", notify)  // after a
	put("room/!d:test?before=!b:test", notify) // before b
	if got, want := ids(u.Token, "room"), []string{"!d:test", "!b:test", "!a:test", "!c:test"}; !slices.Equal(got, want) {
		t.Fatalf("room rules %v, want %v", got, want)
	}
	if got := ids(other.Token, "room"); len(got) != 0 {
		t.Fatalf("another user sees %v", got)
	}
	// User override rules sit between .m.rule.master and the other predefined rules.
	if st := put("override/mine", map[string]any{"actions": []any{}, "conditions": []any{map[string]any{"kind": "event_match", "key": "type", "pattern": "m.x"}}}); st != 200 {
		t.Fatalf("put override: %d", st)
	}
	if got := ids(u.Token, "override"); got[0] != ".m.rule.master" || got[1] != "mine" {
		t.Fatalf("override order %v", got)
	}
	// Disable a predefined rule and change another's actions.
	if st := put("override/.m.rule.master/enabled", map[string]any{"enabled": true}); st != 200 {
		t.Fatalf("enable master: %d", st)
	}
	if st := put("underride/.m.rule.message/actions", map[string]any{"actions": []any{}}); st != 200 {
		t.Fatalf("set actions: %d", st)
	}
	var en struct{ Enabled bool }
	s.Do(t, "GET", base+"override/.m.rule.master/enabled", u.Token, nil, &en)
	var acts struct{ Actions []any }
	s.Do(t, "GET", base+"underride/.m.rule.message/actions", u.Token, nil, &acts)
	if !en.Enabled || acts.Actions == nil || len(acts.Actions) != 0 {
		t.Fatalf("predefined changes not kept: %+v %+v", en, acts)
	}
	// A user rule can be disabled and keeps that state when updated.
	put("room/!a:test/enabled", map[string]any{"enabled": false})
	put("room/!a:test", map[string]any{"actions": []any{"notify", map[string]any{"set_tweak": "sound", "value": "default"}}})
	var ra struct {
		Enabled bool
		Actions []any
	}
	s.Do(t, "GET", base+"room/!a:test", u.Token, nil, &ra)
	if ra.Enabled || len(ra.Actions) != 2 {
		t.Fatalf("updated rule: %+v", ra)
	}
	if st := s.Do(t, "DELETE", base+"room/!b:test", u.Token, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if got := ids(u.Token, "room"); slices.Contains(got, "!b:test") {
		t.Fatalf("deleted rule still there: %v", got)
	}
	if len(told) != 10 {
		t.Fatalf("%d changes told, want 10", len(told))
	}
	var last struct {
		Global map[string][]any `json:"global"`
	}
	if err := json.Unmarshal(told[len(told)-1], &last); err != nil || len(last.Global["room"]) != 3 {
		t.Fatalf("last change told: %s", told[len(told)-1])
	}

	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"predefined ID", "PUT", "override/.m.rule.mine", notify, 400, "M_INVALID_PARAM"},
		{"slash in ID", "PUT", "override/a%2Fb", notify, 400, "M_INVALID_PARAM"},
		{"bad kind", "PUT", "global/x", notify, 400, "M_INVALID_PARAM"},
		{"no actions", "PUT", "override/x", map[string]any{}, 400, "M_MISSING_PARAM"},
		{"bad action", "PUT", "override/x", map[string]any{"actions": []any{"explode"}}, 400, "M_INVALID_PARAM"},
		{"bad action object", "PUT", "override/x", map[string]any{"actions": []any{map[string]any{"value": 1}}}, 400, "M_INVALID_PARAM"},
		{"content without pattern", "PUT", "content/x", notify, 400, "M_MISSING_PARAM"},
		{"room rule not a room", "PUT", "room/x", notify, 400, "M_INVALID_PARAM"},
		{"sender rule not a user", "PUT", "sender/x", notify, 400, "M_INVALID_PARAM"},
		{"condition without kind", "PUT", "override/x", map[string]any{"actions": []any{}, "conditions": []any{map[string]any{}}}, 400, "M_INVALID_PARAM"},
		{"before unknown", "PUT", "room/!z:test?before=!nope:test", notify, 404, "M_NOT_FOUND"},
		{"delete unknown", "DELETE", "room/!nope:test", nil, 404, "M_NOT_FOUND"},
		{"delete predefined", "DELETE", "override/.m.rule.master", nil, 400, "M_INVALID_PARAM"},
		{"enable unknown", "PUT", "room/!nope:test/enabled", map[string]any{"enabled": true}, 404, "M_NOT_FOUND"},
		{"enabled missing", "PUT", "room/!a:test/enabled", map[string]any{}, 400, "M_MISSING_PARAM"},
		{"enabled wrong type", "PUT", "room/!a:test/enabled", map[string]any{"enabled": "yes"}, 400, "M_BAD_JSON"},
		{"actions not a list", "PUT", "room/!a:test/actions", map[string]any{"actions": "notify"}, 400, "M_BAD_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e mxErr
			if st := s.Do(t, tc.method, base+tc.path, u.Token, tc.body, &e); st != tc.status || e.ErrCode != tc.code {
				t.Fatalf("got %d %+v, want %d %s", st, e, tc.status, tc.code)
			}
		})
	}
}
