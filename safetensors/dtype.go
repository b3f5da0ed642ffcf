package safetensors

// dtypeInfo is what the format says about one dtype: its width in bits
// (F4 and F6 are narrower than a byte) and its rank in the reference
// implementation's increasing alignment order, which the writer sorts by.
type dtypeInfo struct {
	bits int
	rank int
}

// dtypes lists every dtype of the reference implementation (safetensors
// 0.6): the rank is the position in its Dtype enum.
var dtypes = map[string]dtypeInfo{
	"BOOL":    {8, 0},
	"F4":      {4, 1},
	"F6_E2M3": {6, 2},
	"F6_E3M2": {6, 3},
	"U8":      {8, 4},
	"I8":      {8, 5},
	"F8_E5M2": {8, 6},
	"F8_E4M3": {8, 7},
	"F8_E8M0": {8, 8},
	"I16":     {16, 9},
	"U16":     {16, 10},
	"F16":     {16, 11},
	"BF16":    {16, 12},
	"I32":     {32, 13},
	"U32":     {32, 14},
	"F32":     {32, 15},
	"C64":     {64, 16},
	"F64":     {64, 17},
	"I64":     {64, 18},
	"U64":     {64, 19},
}
