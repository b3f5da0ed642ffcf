package tensor

import (
	"math"
)

// NF4 storage follows bitsandbytes (quantize_4bit with quant_type "nf4"):
// the flattened tensor is cut into blocks of NF4BlockSize values; each block
// keeps its absmax, and each value x becomes the index of the NF4 level
// nearest to x·(1/absmax) (clamped to [-1, 1]; ties to the lower index, as
// torch.argmin). Two codes share a byte, the even element in the high
// nibble. A value is NF4Levels[code]·absmax.
//
// With double quantisation (bitsandbytes compress_statistics) the absmax
// values are stored in 8 bits: their mean (Offset) is subtracted and the
// rest is quantised blockwise, NF4StatsBlockSize absmax per block, to the
// nearest value of DynamicMap (bitsandbytes create_dynamic_map, signed) times
// the block's own f32 absmax (Absmax2). A block's absmax is then
// DynamicMap[QAbsmax[b]]·Absmax2[b/256] + Offset.

// NF4BlockSize is the number of values sharing one absmax.
const NF4BlockSize = 64

// NF4StatsBlockSize is the number of absmax values sharing one second-level
// scale under double quantisation.
const NF4StatsBlockSize = 256

// NF4Levels are the 16 NF4 values (bitsandbytes get_4bit_type("nf4")).
var NF4Levels = [16]float32{
	-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
	-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
	0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
	0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
}

// DynamicMap is bitsandbytes' 8-bit signed dynamic quantisation map
// (create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)),
// computed in f32 as torch does: for exponent i = 0..6, the midpoints of
// linspace(0.1, 1, 2^i+1) times ±10^(i-6), then 0 and 1, sorted.
var DynamicMap = dynamicMap()

func dynamicMap() [256]float32 {
	var data []float32
	for i := 0; i < 7; i++ {
		b := linspace32(0.1, 1, 1<<i+1)
		scale := float32(math.Pow10(i - 6))
		for j := 0; j+1 < len(b); j++ {
			mean := (b[j] + b[j+1]) / 2
			data = append(data, scale*mean, -scale*mean)
		}
	}
	data = append(data, 0, 1)
	var m [256]float32
	copy(m[:], data)
	sortFloats(m[:])
	return m
}

func sortFloats(s []float32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// NF4Data is the storage of an NF4 tensor of N values.
type NF4Data struct {
	N      int
	Packed []byte    // (N+1)/2 bytes, element 2i in the high nibble of byte i
	Absmax []float32 // per block; nil under double quantisation
	// Double quantisation (all nil/zero otherwise).
	QAbsmax []uint8   // per block: index into DynamicMap
	Absmax2 []float32 // per NF4StatsBlockSize blocks
	Offset  float32   // mean of the absmax values
}

// DoubleQuant reports whether the absmax values are themselves quantised.
func (d *NF4Data) DoubleQuant() bool { return d.QAbsmax != nil }

// Blocks is the number of absmax blocks.
func (d *NF4Data) Blocks() int { return ceilDiv(d.N, NF4BlockSize) }

// BlockScale returns the absmax of block b.
func (d *NF4Data) BlockScale(b int) float32 {
	if d.QAbsmax == nil {
		return d.Absmax[b]
	}
	// The conversion rounds the product, so no FMA fuses it with the add.
	return float32(DynamicMap[d.QAbsmax[b]]*d.Absmax2[b/NF4StatsBlockSize]) + d.Offset
}

// Bytes is the storage size: half a byte per value, and per block 4 bytes
// of absmax, or with double quantisation 1 byte plus 4 per 256 blocks and
// the 4-byte offset. (The 16 levels and the 256-entry map are shared by all
// tensors and not counted.)
func (d *NF4Data) Bytes() int64 {
	return int64(len(d.Packed)) + 4*int64(len(d.Absmax)) + int64(len(d.QAbsmax)) + 4*int64(len(d.Absmax2)) + d.offsetBytes()
}

func (d *NF4Data) offsetBytes() int64 {
	if d.QAbsmax != nil {
		return 4
	}
	return 0
}

// NF4Bytes is the storage of n values quantised to NF4 (see NF4Data.Bytes).
func NF4Bytes(n int, doubleQuant bool) int64 {
	blocks := ceilDiv(n, NF4BlockSize)
	b := int64((n + 1) / 2)
	if !doubleQuant {
		return b + 4*int64(blocks)
	}
	return b + int64(blocks) + 4*int64(ceilDiv(blocks, NF4StatsBlockSize)) + 4
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// QuantizeNF4 quantises src (as one flat vector) to NF4.
func QuantizeNF4(src []float32, doubleQuant bool) *NF4Data {
	n := len(src)
	blocks := ceilDiv(n, NF4BlockSize)
	d := &NF4Data{N: n, Packed: make([]byte, (n+1)/2)}
	absmax := make([]float32, blocks)
	for b := range absmax {
		blk := src[b*NF4BlockSize : min(n, (b+1)*NF4BlockSize)]
		var amax float32
		for _, x := range blk {
			amax = max(amax, abs32(x))
		}
		absmax[b] = amax
		inv := 1 / amax
		for i, x := range blk {
			var c byte = 7 // the exact zero, for an all-zero block
			if amax != 0 {
				c = nearest(NF4Levels[:], min(1, max(-1, x*inv)))
			}
			e := b*NF4BlockSize + i
			if e&1 == 0 {
				d.Packed[e>>1] |= c << 4
			} else {
				d.Packed[e>>1] |= c
			}
		}
	}
	if !doubleQuant {
		d.Absmax = absmax
		return d
	}
	// Offset: the mean, summed in f32 in torch's order (torchSum32), so
	// the offset and every code after it match bitsandbytes bit for bit.
	if blocks > 0 {
		d.Offset = torchSum32(absmax) / float32(blocks)
	}
	d.QAbsmax = make([]uint8, blocks)
	d.Absmax2 = make([]float32, ceilDiv(blocks, NF4StatsBlockSize))
	for b2 := range d.Absmax2 {
		lo, hi := b2*NF4StatsBlockSize, min(blocks, (b2+1)*NF4StatsBlockSize)
		var amax float32
		for _, a := range absmax[lo:hi] {
			amax = max(amax, abs32(a-d.Offset))
		}
		d.Absmax2[b2] = amax
		inv := 1 / amax
		for b := lo; b < hi; b++ {
			c := byte(127) // DynamicMap[127] is 0
			if amax != 0 {
				c = nearest(DynamicMap[:], min(1, max(-1, (absmax[b]-d.Offset)*inv)))
			}
			d.QAbsmax[b] = c
		}
	}
	return d
}

// nearest is the index of the level closest to x, the first on ties
// (torch.argmin(|x - levels|)).
func nearest(levels []float32, x float32) byte {
	best, bd := 0, abs32(x-levels[0])
	for i := 1; i < len(levels); i++ {
		if d := abs32(x - levels[i]); d < bd {
			best, bd = i, d
		}
	}
	return byte(best)
}

// Code returns the 4-bit code of value e.
func (d *NF4Data) Code(e int) byte {
	b := d.Packed[e>>1]
	if e&1 == 0 {
		return b >> 4
	}
	return b & 15
}

// Dequantize writes values [off, off+len(dst)) into dst.
func (d *NF4Data) Dequantize(dst []float32, off int) {
	for i := range dst {
		e := off + i
		dst[i] = NF4Levels[d.Code(e)] * d.BlockScale(e/NF4BlockSize)
	}
}
