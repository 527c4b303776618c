package peak

import "encoding/binary"

// sumBlock is the byte count one step of the assembly read loops consumes.
const sumBlock = 256

// sumGeneric is the plain-Go read loop and the definition of the checksum: the wrapping
// sum of b as little-endian uint64 words, a short last word zero-padded.
func sumGeneric(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	for len(b) >= 32 {
		s0 += binary.LittleEndian.Uint64(b[0:8])
		s1 += binary.LittleEndian.Uint64(b[8:16])
		s2 += binary.LittleEndian.Uint64(b[16:24])
		s3 += binary.LittleEndian.Uint64(b[24:32])
		b = b[32:]
	}
	for len(b) >= 8 {
		s0 += binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	var last [8]byte
	copy(last[:], b)
	return s0 + s1 + s2 + s3 + binary.LittleEndian.Uint64(last[:])
}
