package app

import (
	"context"
	"fmt"

	"scop/mailstack/receiver"
)

// initMail builds the SMTP receiver when mail.enabled is set, so that the
// default `scop serve` runs the whole stack in one process. Its mailboxes
// are the homeserver's accounts, read from the same database.
func (a *App) initMail() error {
	if !a.Config.Mail.Enabled {
		return nil
	}
	r, err := receiver.New(receiver.Options{
		Config:     a.Config.Mail,
		DataDir:    a.Config.DataDir,
		ServerName: a.ServerName,
		Mailboxes:  &receiver.AccountsMailboxes{DB: a.DB},
		Log:        a.Log,
	})
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	a.Mail = r
	// Registered after the database closer, so it runs before it: the
	// receiver finishes its sessions and spool writes first.
	a.OnClose(func(ctx context.Context) error {
		if err := r.Close(ctx); err != nil {
			return fmt.Errorf("mail: %w", err)
		}
		return nil
	})
	return nil
}

// startMail binds the SMTP listener (mail.listen, or any free port when
// the client API was asked for port 0) and records its address.
func (a *App) startMail(ctx context.Context, anyPort bool) error {
	if a.Mail == nil {
		return nil
	}
	listen := ""
	if anyPort {
		listen = "127.0.0.1:0"
	}
	if err := a.Mail.Start(ctx, listen); err != nil {
		return fmt.Errorf("mail.listen: %w", err)
	}
	a.addrs.SMTP = a.Mail.Addr().String()
	return nil
}
