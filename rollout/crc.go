package rollout

import "hash/crc32"

// crc32Combine returns the CRC-32 (reflected, of the polynomial poly) of
// A followed by B from crcA, crcB and the length of B, as zlib's
// crc32_combine does: crcA is multiplied by x^(8*lenB) modulo the
// polynomial, that power made from a table of x^(2^k) in O(log lenB)
// multiplications. It lets a save checksum only the parts of a state that
// changed (the plan never does; most targets' records do not) and combine
// the rest, hundreds of times per save on a large fleet, hence the table.
func crc32Combine(poly, crcA, crcB uint32, lenB int) uint32 {
	if lenB <= 0 {
		return crcA
	}
	return multModP(poly, crc32Shift(poly, lenB), crcA) ^ crcB
}

// crc32Shift returns x^(8*n) modulo poly: the factor by which combining
// with n bytes after a CRC multiplies it.
func crc32Shift(poly uint32, n int) uint32 {
	t := &castagnoliX2n
	if poly != crc32.Castagnoli {
		t = x2nTable(poly)
	}
	// The bits of n shifted by three select the powers.
	p := uint32(1) << 31 // x^0
	for n, k := uint64(n), 3; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = multModP(poly, t[k&31], p)
		}
	}
	return p
}

var castagnoliX2n = *x2nTable(crc32.Castagnoli)

// x2nTable returns x^(2^k) modulo poly for k from 0 to 31 (the powers
// cycle past 31 for these polynomials' purposes, as in zlib).
func x2nTable(poly uint32) *[32]uint32 {
	var t [32]uint32
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = multModP(poly, p, p)
		t[k] = p
	}
	return &t
}

// multModP multiplies a and b modulo poly, bit-reflected.
func multModP(poly, a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; ; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ poly
		} else {
			b >>= 1
		}
	}
	return p
}
