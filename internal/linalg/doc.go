// Package linalg is the small dense linear algebra golora's LoRA
// initialisations need: Householder QR with LAPACK's sign convention (what
// torch.linalg.qr returns, used by OLoRA), a one-sided Jacobi SVD (what
// torch.linalg.svd computes, up to the sign of each singular pair, used by
// PiSSA) and the randomized low-rank SVD of torch.svd_lowrank (Halko,
// Martinsson and Tropp 2011, Algorithm 5.1, used by pissa_niter_N).
//
// Matrices are row-major float64 (Dense); everything runs in float64, so an
// f32 weight decomposes with errors far below its own rounding. The code is
// written for the weight matrices of one model at initialisation, not for a
// hot loop: plain loops, no blocking.
package linalg
