package media

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decoders for image.Decode
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strconv"
)

// maxThumbSource bounds the pixels of an image we decode to scale: larger
// ones (decompression bombs among them) get no thumbnail.
const maxThumbSource = 40_000_000

// thumbSides are the thumbnail sizes made: a request is served the
// smallest at least as large as it asks, so that a client cannot make the
// server scale and store an image in every possible size.
var thumbSides = []int{32, 96, 320, 640, 800, 1600}

func snapSide(n int) int {
	for _, s := range thumbSides {
		if n <= s {
			return s
		}
	}
	return thumbSides[len(thumbSides)-1]
}

// Thumbnail returns a scaled copy of a local image upload, at most w×h
// ("scale") or exactly w×h cut from the middle ("crop"), never larger than
// the original. Images that cannot be scaled (unknown formats, too many
// pixels) are returned as they are, which the spec allows. Thumbnails are
// cached beside the original.
func (s *Store) Thumbnail(ctx context.Context, serverName, id string, w, h int, method string) (contentType string, size int64, body io.ReadCloser, err error) {
	it, f, err := s.Open(ctx, serverName, id)
	if err != nil {
		return "", 0, nil, err
	}
	base, _, _ := mime.ParseMediaType(it.ContentType)
	if base != "image/png" && base != "image/jpeg" && base != "image/gif" {
		return it.ContentType, it.Size, f, nil
	}
	w, h = snapSide(w), snapSide(h)
	if method != "crop" {
		method = "scale"
	}
	outType := "image/png"
	if base == "image/jpeg" {
		outType = "image/jpeg"
	}
	cache := s.path(id) + ".thumb." + strconv.Itoa(w) + "x" + strconv.Itoa(h) + "." + method
	if c, err := os.Open(cache); err == nil {
		if st, err := c.Stat(); err == nil {
			f.Close()
			return outType, st.Size(), c, nil
		}
		c.Close()
	}
	cfg, _, err := image.DecodeConfig(f)
	if err != nil || cfg.Width*cfg.Height > maxThumbSource || cfg.Width <= 0 || cfg.Height <= 0 {
		f.Seek(0, io.SeekStart)
		return it.ContentType, it.Size, f, nil
	}
	if cfg.Width <= w && cfg.Height <= h {
		f.Seek(0, io.SeekStart)
		return it.ContentType, it.Size, f, nil
	}
	f.Seek(0, io.SeekStart)
	src, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		_, f2, err2 := s.Open(ctx, serverName, id)
		if err2 != nil {
			return "", 0, nil, err2
		}
		return it.ContentType, it.Size, f2, nil
	}
	dst := scale(src, w, h, method == "crop")
	var buf bytes.Buffer
	if outType == "image/jpeg" {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85})
	} else {
		err = png.Encode(&buf, dst)
	}
	if err != nil {
		return "", 0, nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	// The cache is best effort: a failed write only costs a rescale.
	if tmp, err := os.CreateTemp(filepath.Dir(cache), ".thumb-*"); err == nil {
		_, werr := tmp.Write(buf.Bytes())
		if cerr := tmp.Close(); werr == nil && cerr == nil {
			os.Rename(tmp.Name(), cache)
		}
		os.Remove(tmp.Name())
	}
	return outType, int64(buf.Len()), io.NopCloser(bytes.NewReader(buf.Bytes())), nil
}

// scale returns src reduced to fit w×h (keeping its aspect ratio) or, with
// crop, to cover w×h and then cut to it around the centre. Each
// destination pixel averages the source pixels it covers.
func scale(src image.Image, w, h int, crop bool) image.Image {
	sb := src.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	r := min(float64(w)/float64(sw), float64(h)/float64(sh))
	if crop {
		r = max(float64(w)/float64(sw), float64(h)/float64(sh))
	}
	r = min(r, 1)
	dw, dh := max(int(float64(sw)*r), 1), max(int(float64(sh)*r), 1)
	scaled := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		y0, y1 := sb.Min.Y+y*sh/dh, sb.Min.Y+max((y+1)*sh/dh, y*sh/dh+1)
		for x := 0; x < dw; x++ {
			x0, x1 := sb.Min.X+x*sw/dw, sb.Min.X+max((x+1)*sw/dw, x*sw/dw+1)
			var rs, gs, bs, as, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, ca := src.At(sx, sy).RGBA()
					rs, gs, bs, as, n = rs+uint64(cr), gs+uint64(cg), bs+uint64(cb), as+uint64(ca), n+1
				}
			}
			scaled.Set(x, y, color.RGBA64{uint16(rs / n), uint16(gs / n), uint16(bs / n), uint16(as / n)})
		}
	}
	if !crop || (dw <= w && dh <= h) {
		return scaled
	}
	cw, ch := min(w, dw), min(h, dh)
	out := image.NewRGBA(image.Rect(0, 0, cw, ch))
	draw.Draw(out, out.Bounds(), scaled, image.Pt((dw-cw)/2, (dh-ch)/2), draw.Src)
	return out
}
