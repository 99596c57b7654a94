package accounts_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scop/homeserver"
	"scop/homeserver/accounts"
	"scop/homeserver/accounts/sqlitestore"
	"scop/homeserver/storage/sqlite"
)

func newService(t *testing.T) (*accounts.Service, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hs.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlitestore.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return accounts.New(store, "example.org", accounts.Options{BcryptCost: 4}), path
}

func code(err error) string {
	var he *homeserver.Error
	if errors.As(err, &he) {
		return he.Code
	}
	if err != nil {
		return "internal: " + err.Error()
	}
	return ""
}

func TestRegisterAndPassword(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	id, err := s.Register(ctx, "alice", "pw", false)
	if err != nil || id != "@alice:example.org" {
		t.Fatalf("register: %q %v", id, err)
	}
	tests := []struct {
		name, op, arg1, arg2 string
		want                 string
	}{
		{"duplicate", "register", "alice", "pw", homeserver.ErrUserInUse},
		{"bad name", "register", "Alice", "pw", homeserver.ErrInvalidUsername},
		{"empty password", "register", "bob", "", homeserver.ErrWeakPassword},
		{"long name", "register", strings.Repeat("a", 250), "pw", homeserver.ErrInvalidUsername},
		{"right password", "check", "alice", "pw", ""},
		{"full ID", "check", "@alice:example.org", "pw", ""},
		{"wrong password", "check", "alice", "pW", homeserver.ErrForbidden},
		{"unknown user", "check", "carol", "pw", homeserver.ErrForbidden},
		{"foreign ID", "check", "@alice:example.com", "pw", homeserver.ErrForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.op == "register" {
				_, err = s.Register(ctx, tc.arg1, tc.arg2, false)
			} else {
				_, err = s.CheckPassword(ctx, tc.arg1, tc.arg2)
			}
			if code(err) != tc.want {
				t.Fatalf("got %q, want %q", code(err), tc.want)
			}
		})
	}
}

// Passwords longer than bcrypt's 72-byte input still count in full.
func TestLongPassword(t *testing.T) {
	s, _ := newService(t)
	long := strings.Repeat("x", 100)
	if _, err := s.Register(t.Context(), "alice", long+"1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(t.Context(), "alice", long+"2"); code(err) != homeserver.ErrForbidden {
		t.Fatalf("password differing after byte 72 accepted: %v", err)
	}
	if _, err := s.CheckPassword(t.Context(), "alice", long+"1"); err != nil {
		t.Fatal(err)
	}
}

func TestTokens(t *testing.T) {
	s, path := newService(t)
	ctx := t.Context()
	id, _ := s.Register(ctx, "alice", "pw", true)
	a, err := s.Login(ctx, id, "", "", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Login(ctx, id, "B", "", "127.0.0.1")
	dev, err := s.Authenticate(ctx, a.AccessToken)
	if err != nil || dev.UserID != id || dev.DeviceID != a.DeviceID || !dev.IsAdmin {
		t.Fatalf("authenticate: %+v %v", dev, err)
	}
	// Tokens are stored hashed: the database never holds the token itself.
	db, _ := sqlite.Open(path)
	defer db.Close()
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM accounts_devices WHERE token_hash = ? OR CAST(token_hash AS TEXT) = ?`, a.AccessToken, a.AccessToken).Scan(&n)
	if n != 0 {
		t.Fatal("token stored in clear")
	}
	// Deleting a device revokes its (cached) token, not the others.
	if err := s.DeleteDevices(ctx, id, []string{a.DeviceID}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, a.AccessToken); code(err) != homeserver.ErrUnknownToken {
		t.Fatalf("deleted device's token: %v", err)
	}
	if _, err := s.Authenticate(ctx, b.AccessToken); err != nil {
		t.Fatalf("other token: %v", err)
	}
	// A password change with logout keeps only the named device.
	c, _ := s.Login(ctx, id, "C", "", "")
	s.Authenticate(ctx, c.AccessToken)
	if err := s.SetPassword(ctx, id, "new", true, "C"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, b.AccessToken); code(err) != homeserver.ErrUnknownToken {
		t.Fatalf("token after password change: %v", err)
	}
	if _, err := s.Authenticate(ctx, c.AccessToken); err != nil {
		t.Fatalf("kept device: %v", err)
	}
}

func TestProfile(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	id, _ := s.Register(ctx, "alice", "pw", false)
	if dn, av, err := s.Profile(ctx, id); err != nil || dn != "alice" || av != "" {
		t.Fatalf("default profile: %q %q %v", dn, av, err)
	}
	if err := s.SetDisplayName(ctx, id, "Alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAvatarURL(ctx, id, "mxc://example.org/x"); err != nil {
		t.Fatal(err)
	}
	if dn, av, _ := s.Profile(ctx, id); dn != "Alice" || av != "mxc://example.org/x" {
		t.Fatalf("profile: %q %q", dn, av)
	}
	for _, u := range []string{"@bob:example.org", "@alice:other.org", "alice", ""} {
		if _, _, err := s.Profile(ctx, u); code(err) != homeserver.ErrNotFound {
			t.Errorf("Profile(%q): %v", u, err)
		}
	}
	if err := s.SetDisplayName(ctx, "@bob:example.org", "x"); code(err) != homeserver.ErrNotFound {
		t.Errorf("set unknown user's name: %v", err)
	}
	if err := s.SetDisplayName(ctx, id, strings.Repeat("x", 2000)); code(err) != homeserver.ErrTooLarge {
		t.Errorf("huge name: %v", err)
	}
}

// Touch records a device's use once per interval; a fresh service (a
// restart) records the first use it sees.
func TestTouch(t *testing.T) {
	s, path := newService(t)
	ctx := t.Context()
	id, _ := s.Register(ctx, "alice", "pw", false)
	sess, _ := s.Login(ctx, id, "D", "", "127.0.0.1")
	dev := homeserver.Device{UserID: id, DeviceID: sess.DeviceID}
	s.Touch(ctx, dev, "10.0.0.1") // just logged in: not written again
	if d, _ := s.Device(ctx, id, "D"); d.LastSeenIP != "127.0.0.1" {
		t.Fatalf("touch right after login wrote %q", d.LastSeenIP)
	}
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s2 := accounts.New(store, "example.org", accounts.Options{BcryptCost: 4})
	s2.Touch(ctx, dev, "10.0.0.2")
	if d, _ := s2.Device(ctx, id, "D"); d.LastSeenIP != "10.0.0.2" || d.LastSeenTS == 0 {
		t.Fatalf("after restart, touch recorded %+v", d)
	}
}

// A token revoked by another process on the same database (scop user
// passwd) stops working once the cache rechecks it.
func TestRevokedElsewhere(t *testing.T) {
	s1, path := newService(t)
	ctx := t.Context()
	id, _ := s1.Register(ctx, "alice", "pw", false)
	sess, _ := s1.Login(ctx, id, "", "", "")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// The server side: trusts its cache for only a nanosecond.
	server := accounts.New(store, "example.org", accounts.Options{BcryptCost: 4, TokenRecheck: time.Nanosecond})
	if _, err := server.Authenticate(ctx, sess.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := s1.SetPassword(ctx, id, "new", true, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Authenticate(ctx, sess.AccessToken); code(err) != homeserver.ErrUnknownToken {
		t.Fatalf("revoked token: %v", err)
	}
}
