package clientapi

import (
	"context"
	"errors"
	"testing"

	"scop/homeserver"
)

// Starting flows without finishing them cannot grow memory without bound.
func TestUIASessionCap(t *testing.T) {
	u := newUIAStore()
	flows := [][]string{{"m.login.dummy"}}
	ok := func(context.Context, string, *authDict) error { return nil }
	for i := range maxUIASessions {
		if done, _, err := u.check(t.Context(), nil, "register", flows, nil, ok); done || err != nil {
			t.Fatalf("session %d: %v %v", i, done, err)
		}
	}
	_, _, err := u.check(t.Context(), nil, "register", flows, nil, ok)
	var he *homeserver.Error
	if !errors.As(err, &he) || he.Code != homeserver.ErrLimitExceeded {
		t.Fatalf("over the cap: %v", err)
	}
	// While full, even a one-step flow is refused: it would need a session.
	if done, _, err := u.check(t.Context(), &authDict{Type: "m.login.dummy"}, "register", flows, nil, ok); err == nil || done {
		t.Fatal("one-step flow completed over the cap")
	}
}
