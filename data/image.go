package data

import "fmt"

// Image is an 8-bit image in row-major height × width × channels order, with
// 1 (gray) or 3 (RGB) channels.
type Image struct {
	Height, Width, Channels int
	Pix                     []uint8 // len Height*Width*Channels
}

// convertChannels returns img with c channels: gray becomes RGB by
// replication, RGB becomes gray by PIL's convert("L") (ITU-R 601-2 luma
// L = R·299/1000 + G·587/1000 + B·114/1000, computed in PIL's 16-bit fixed
// point so the rounding matches). dst is reused when large enough.
func convertChannels(dst []uint8, img Image, c int) (Image, []uint8) {
	if img.Channels == c {
		return img, dst
	}
	n := img.Height * img.Width
	if cap(dst) < n*c {
		dst = make([]uint8, n*c)
	}
	out := Image{Height: img.Height, Width: img.Width, Channels: c, Pix: dst[:n*c]}
	switch {
	case img.Channels == 1 && c == 3:
		for i, v := range img.Pix[:n] {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
		}
	case img.Channels == 3 && c == 1:
		for i := range n {
			r, g, b := uint32(img.Pix[3*i]), uint32(img.Pix[3*i+1]), uint32(img.Pix[3*i+2])
			out.Pix[i] = uint8((r*19595 + g*38470 + b*7471 + 0x8000) >> 16)
		}
	default:
		panic(fmt.Sprintf("data: cannot convert %d channels to %d", img.Channels, c))
	}
	return out, dst
}
