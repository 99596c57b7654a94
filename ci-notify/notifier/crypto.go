package notifier

import "errors"

// ErrNoCrypto is returned by EnableCrypto in a build without the goolm tag:
// mautrix's crypto otherwise needs libolm through cgo, which SCoP avoids.
// Build with `go build -tags goolm ./ci-notify/cmd/ci-notify` for
// encrypted rooms (pure Go olm, CGO_ENABLED=0 works).
var ErrNoCrypto = errors.New("notifier: built without encryption support; rebuild with -tags goolm")
