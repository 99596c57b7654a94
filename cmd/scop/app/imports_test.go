package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules checks the layering of the module (style notes,
// "Import rules") on the direct imports of every non-test package.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "scop/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type rule struct {
		name    string
		applies func(pkg string) bool
		forbids func(imp string) bool
	}
	under := func(prefix string) func(string) bool {
		return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
	}
	rules := []rule{
		{"nothing imports the binary's packages", func(p string) bool { return !under("scop/cmd/scop")(p) }, under("scop/cmd/scop")},
		{"sytest is black-box", under("scop/sytest"), func(i string) bool { return strings.HasPrefix(i, "scop/") }},
		{"mailstack stands alone", under("scop/mailstack"), func(i string) bool {
			return under("scop/homeserver")(i) || under("scop/clientapi")(i) || under("scop/bridge")(i)
		}},
		{"services do not import the HTTP layer", under("scop/homeserver"), under("scop/clientapi")},
		// Push rules are evaluated inside the rooms service, so the push
		// domain package must not depend on it (nor on any store).
		{"push is a domain package", func(p string) bool { return p == "scop/homeserver/push" }, func(i string) bool {
			return strings.HasPrefix(i, "scop/") && i != "scop/homeserver"
		}},
		// homeserver/media is itself a storage implementation: files on
		// disk with their metadata in SQLite.
		{"only storage implementations and wiring use SQLite", func(p string) bool {
			return (under("scop/homeserver")(p) || p == "scop/clientapi") && !strings.Contains(p, "sqlite") && p != "scop/homeserver/media"
		}, under("scop/homeserver/storage/sqlite")},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pkg, imports := f[0], f[1:]
		for _, r := range rules {
			if !r.applies(pkg) {
				continue
			}
			for _, imp := range imports {
				if r.forbids(imp) {
					t.Errorf("%s: %s imports %s", r.name, pkg, imp)
				}
			}
		}
	}
}
