package main

import (
	"context"
	"errors"
)

func runMail(ctx context.Context, args []string) error {
	return errors.New("mail: not built yet")
}
