package plan

import "testing"

// TestCalibrationShape: real shapes below the cap are measured as they
// are; huge ones on a smaller shape, with the elementwise work scaled.
func TestCalibrationShape(t *testing.T) {
	if b, tok, s := calibrationShape(8, 197, 192, 768, 3); b != 8 || tok != 197 || s != 1 {
		t.Errorf("ViT-Tiny batch 8: calibrated at %d×%d, scale %v", b, tok, s)
	}
	for _, tc := range [][5]int{{1 << 16, 197, 192, 768, 3}, {1 << 16, 65537, 1 << 16, 1 << 18, 1024}, {1, 65537, 64, 256, 1024}} {
		b, tok, s := calibrationShape(tc[0], tc[1], tc[2], tc[3], tc[4])
		n := int64(b) * int64(tok)
		bytes := 4 * (5*n*int64(tc[2]) + 3*n*int64(tc[3]) + 3*int64(b)*int64(tc[4])*int64(tok)*int64(tok) + 2*n)
		if b < 1 || tok < 1 || b > tc[0] || tok > tc[1] || s < 1 {
			t.Errorf("%v: calibrated at %d×%d, scale %v", tc, b, tok, s)
		}
		if bytes > calibrationBudget() && (b > 1 || tok > 1) {
			t.Errorf("%v: calibration buffers of %d bytes over the cap", tc, bytes)
		}
	}
}
