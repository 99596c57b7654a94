package app

import (
	"context"
	"path/filepath"

	"scop/homeserver/media"
)

// initMedia opens the content repository (files in <data>/media) and
// registers its routes.
func (a *App) initMedia(ctx context.Context) error {
	st, err := media.New(ctx, a.DB, filepath.Join(a.Config.DataDir, "media"), a.ServerName, a.Config.Media.MaxUploadBytes)
	if err != nil {
		return err
	}
	a.API.RegisterMedia(st)
	return nil
}
