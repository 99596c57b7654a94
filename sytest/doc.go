// Package sytest is SCoP's black-box Matrix conformance suite. It drives a
// homeserver only through the public Client-Server API, so it runs against
// any homeserver: by default it builds and starts scop itself, or it tests
// the server named by -sytest.url / SYTEST_URL. The tests live in the
// package's _test.go files; see README.md for how to run them.
package sytest
