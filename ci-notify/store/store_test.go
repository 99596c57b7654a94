package store

import (
	"context"
	"errors"
	"testing"
	"time"

	cinotify "scop/ci-notify"
)

func mustOpen(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestApplyAndPost(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := mustOpen(t, dir)
	u := cinotify.Update{Repo: "o/r", Pipeline: "9", Jobs: []cinotify.Job{{Name: "build", Status: cinotify.StatusRunning}}}
	k, changed, err := s.Apply(ctx, u)
	if err != nil || !changed {
		t.Fatalf("Apply = %v, %v; want changed", changed, err)
	}
	if _, changed, _ := s.Apply(ctx, u); changed {
		t.Error("the same update applied twice changed the pipeline")
	}
	if _, _, err := s.Apply(ctx, cinotify.Update{Repo: "o/r"}); !errors.Is(err, cinotify.ErrInvalid) {
		t.Errorf("Apply(no pipeline) = %v, want ErrInvalid", err)
	}
	behind, err := s.Behind(ctx, 10)
	if err != nil || len(behind) != 1 || behind[0] != k {
		t.Fatalf("Behind = %v, %v; want [%v]", behind, err, k)
	}
	if err := s.MarkPosted(ctx, k, "$ev", 1, false); err != nil {
		t.Fatal(err)
	}
	if behind, _ := s.Behind(ctx, 10); len(behind) != 0 {
		t.Errorf("Behind after posting = %v, want none", behind)
	}
	u.Jobs[0].Status = cinotify.StatusSuccess
	if _, changed, _ := s.Apply(ctx, u); !changed {
		t.Fatal("success after running did not change the pipeline")
	}
	// A restart keeps everything: reopen the same directory.
	s.Close()
	s2 := mustOpen(t, dir)
	row, err := s2.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if row.EventID != "$ev" || row.Version != 2 || row.PostedVersion != 1 || row.State.Jobs[0].Status != cinotify.StatusSuccess {
		t.Errorf("after reopen: %+v", row)
	}
	// posted_version never goes back.
	if err := s2.MarkPosted(ctx, k, "$ev", 0, true); err != nil {
		t.Fatal(err)
	}
	if row, _ := s2.Get(ctx, k); row.PostedVersion != 1 || !row.Mentioned {
		t.Errorf("MarkPosted(older) gave posted_version %d mentioned %v", row.PostedVersion, row.Mentioned)
	}
}

func TestLease(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, t.TempDir())
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	k, _, err := s.Apply(ctx, cinotify.Update{Repo: "o/r", Pipeline: "1", Status: cinotify.StatusQueued})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Lease(ctx, k, "a", time.Minute); err != nil {
		t.Fatalf("first lease: %v", err)
	}
	if err := s.Lease(ctx, k, "a", time.Minute); err != nil {
		t.Fatalf("renewing own lease: %v", err)
	}
	if err := s.Lease(ctx, k, "b", time.Minute); !errors.Is(err, ErrLeased) {
		t.Fatalf("second owner's lease = %v, want ErrLeased", err)
	}
	now = now.Add(2 * time.Minute)
	if err := s.Lease(ctx, k, "b", time.Minute); err != nil {
		t.Fatalf("lease after expiry: %v", err)
	}
	if err := s.Release(ctx, k, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Lease(ctx, k, "a", time.Minute); err != nil {
		t.Fatalf("lease after release: %v", err)
	}
	if err := s.Lease(ctx, Key{Repo: "x", Pipeline: "y"}, "a", time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("lease of unknown pipeline = %v, want ErrNotFound", err)
	}
}

func TestRoomsThreadsSession(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, t.TempDir())
	if _, err := s.Room(ctx, "o/r"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Room(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.SetRepoRoom(ctx, "o/r", "!a:x"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Room(ctx, "o/r"); r != "!a:x" || err != nil {
		t.Errorf("Room = %q, %v", r, err)
	}
	if err := s.SetThread(ctx, "!a:x", "branch:main", "$root"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Thread(ctx, "!a:x", "branch:main"); r != "$root" || err != nil {
		t.Errorf("Thread = %q, %v", r, err)
	}
	if _, err := s.Session(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session() = %v, want ErrNotFound", err)
	}
	want := Session{Homeserver: "http://h", UserID: "@b:x", DeviceID: "D", AccessToken: "t"}
	if err := s.SetSession(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx); err != nil || *got != want {
		t.Errorf("Session() = %+v, %v; want %+v", got, err, want)
	}
}

func TestTxnBaseStable(t *testing.T) {
	a := Key{Repo: "o/r", Pipeline: "1"}.TxnBase()
	if a != (Key{Repo: "o/r", Pipeline: "1"}).TxnBase() || a == (Key{Repo: "o/r", Pipeline: "2"}).TxnBase() {
		t.Error("TxnBase is not a stable function of the key")
	}
}

func TestPrune(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, t.TempDir())
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	posted, _, _ := s.Apply(ctx, cinotify.Update{Repo: "o/r", Pipeline: "old", Status: cinotify.StatusSuccess})
	if err := s.MarkPosted(ctx, posted, "$e", 1, false); err != nil {
		t.Fatal(err)
	}
	behind, _, _ := s.Apply(ctx, cinotify.Update{Repo: "o/r", Pipeline: "behind", Status: cinotify.StatusSuccess})
	now = now.Add(48 * time.Hour)
	fresh, _, _ := s.Apply(ctx, cinotify.Update{Repo: "o/r", Pipeline: "fresh", Status: cinotify.StatusSuccess})
	s.MarkPosted(ctx, fresh, "$f", 1, false)
	n, err := s.Prune(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 (only the old, posted pipeline)", n, err)
	}
	if _, err := s.Get(ctx, posted); !errors.Is(err, ErrNotFound) {
		t.Errorf("old pipeline still there: %v", err)
	}
	for _, k := range []Key{behind, fresh} {
		if _, err := s.Get(ctx, k); err != nil {
			t.Errorf("%v pruned: %v", k, err)
		}
	}
}
