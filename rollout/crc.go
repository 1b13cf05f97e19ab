package rollout

// crc32Combine returns the CRC-32 (reflected, of the polynomial poly) of
// A followed by B from crcA, crcB and the length of B, as zlib's
// crc32_combine does: B's bits are shifted through crcA by squaring the
// matrix of one zero bit, in O(log lenB) 32x32 steps. It lets a save skip
// checksumming the plan, which never changes, at every transition.
func crc32Combine(poly, crcA, crcB uint32, lenB int) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = poly // the operator of one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	crc := crcA
	for n := lenB; ; {
		gf2Square(&even, &odd) // the next power of two zero bytes
		if n&1 != 0 {
			crc = gf2Times(&even, crc)
		}
		n >>= 1
		if n == 0 {
			break
		}
		gf2Square(&odd, &even)
		if n&1 != 0 {
			crc = gf2Times(&odd, crc)
		}
		n >>= 1
		if n == 0 {
			break
		}
	}
	return crc ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
