package tensor

// TorchSum32 exposes torchSum32 to the reference tests.
var TorchSum32 = torchSum32
