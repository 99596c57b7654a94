package main

import (
	"context"
	"errors"
)

func runSpam(ctx context.Context, args []string) error {
	return errors.New("spam: not built yet")
}
