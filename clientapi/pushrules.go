package clientapi

import "scop/homeserver/push"

// Push rules: the spec's predefined ruleset and their evaluation live in
// homeserver/push; this file names its types for the routes in
// pushrules_edit.go (the user's rules and changes to predefined ones).

type (
	pushCondition = push.Condition
	pushRule      = push.Rule
)
