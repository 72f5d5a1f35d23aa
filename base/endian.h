/* Explicit little-endian and big-endian get/put for wire and storage formats.
 *
 * Every wire field is encoded through these helpers, never by copying a struct, so the layout is the
 * one written in docs/protocol.md whatever the host's byte order or padding. Callers check bounds
 * before calling: these functions read and write exactly the bytes their name says. */
#ifndef HF_BASE_ENDIAN_H
#define HF_BASE_ENDIAN_H

#include <stdint.h>

static inline uint16_t hf_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t hf_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hf_get_le64(const uint8_t *p)
{
	return (uint64_t)hf_get_le32(p) | (uint64_t)hf_get_le32(p + 4) << 32;
}

static inline void hf_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void hf_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void hf_put_le64(uint8_t *p, uint64_t v)
{
	hf_put_le32(p, (uint32_t)v);
	hf_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Big-endian forms, for storage keys: big-endian keys sort in numeric order. */
static inline uint32_t hf_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t hf_get_be64(const uint8_t *p)
{
	return (uint64_t)hf_get_be32(p) << 32 | (uint64_t)hf_get_be32(p + 4);
}

static inline void hf_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void hf_put_be64(uint8_t *p, uint64_t v)
{
	hf_put_be32(p, (uint32_t)(v >> 32));
	hf_put_be32(p + 4, (uint32_t)v);
}

#endif
