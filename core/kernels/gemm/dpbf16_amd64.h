// The Go assembler lacks VDPBF16PS, so DPBF16(s2, s1, d) emits its EVEX encoding for
// registers given by number: Zd.fp32[j] += Zs1.bf16[2j]*Zs2.bf16[2j] + Zs1.bf16[2j+1]*Zs2.bf16[2j+1]
// (Intel operand order vdpbf16ps zmm_d, zmm_s1, zmm_s2).
#define DPBF16(s2, s1, d) \
	BYTE $0x62; \
	BYTE $((((d>>3)&1)^1)<<7 | (((s2>>4)&1)^1)<<6 | (((s2>>3)&1)^1)<<5 | (((d>>4)&1)^1)<<4 | 2); \
	BYTE $((15-(s1&15))<<3 | 6); \
	BYTE $(0x40 | (((s1>>4)&1)^1)<<3); \
	BYTE $0x52; \
	BYTE $(0xC0 | (d&7)<<3 | (s2&7))
