/* A minimal RESP2 encoder and parser for the Redis side of the comparison.
 *
 * The encoder writes commands as arrays of bulk strings into a caller's buffer. The parser reads
 * one reply from the front of a buffer: simple strings, errors, integers, bulk strings (or nil),
 * and arrays of those, one level deep (what our Lua scripts return), into caller-provided items.
 * Every length is checked against HF_RESP_BULK_SIZE_MAX / the items capacity; the parser never
 * reads past the bytes it was given and tells apart "need more bytes" from "malformed".
 *
 * Pure: no sockets, no allocation; any thread. */
#ifndef HF_BENCH_RESP_H
#define HF_BENCH_RESP_H

#include <stddef.h>
#include <stdint.h>

#define HF_RESP_BULK_SIZE_MAX  (4u * 1024u * 1024u)
#define HF_RESP_ARRAY_SIZE_MAX (1u << 22)
#define HF_RESP_LINE_SIZE_MAX  512u /* a simple string, error or number line */

enum hf_resp_type {
	HF_RESP_STATUS = 1, /* +OK */
	HF_RESP_ERROR = 2,  /* -ERR ... */
	HF_RESP_INT = 3,    /* :123 */
	HF_RESP_BULK = 4,   /* $3 abc */
	HF_RESP_NIL = 5,    /* $-1 or *-1 */
	HF_RESP_ARRAY = 6,  /* *N, items follow */
};

struct hf_resp_value {
	uint8_t type; /* enum hf_resp_type */
	int64_t integer;
	const uint8_t *str; /* STATUS, ERROR, BULK: borrowed from the parsed buffer */
	uint32_t str_size;
	uint32_t items_count; /* ARRAY: items stored (== the array's size) */
};

/* A command being written: init, then add arguments; `overflow` is set (and nothing more is
 * written) when the buffer is too small. */
struct hf_resp_writer {
	uint8_t *buf;
	size_t size;
	size_t cap;
	int overflow;
};

void hf_resp_writer_init(struct hf_resp_writer *w, uint8_t *buf, size_t cap);
void hf_resp_write_array(struct hf_resp_writer *w, uint32_t args_count);
void hf_resp_write_bulk(struct hf_resp_writer *w, const void *data, size_t size);
void hf_resp_write_str(struct hf_resp_writer *w, const char *s);
void hf_resp_write_u64(struct hf_resp_writer *w, uint64_t v);

/* Parses one reply at buf[0..size). Returns 1 and fills *out (and items[0 .. out->items_count) for
 * an array; items_cap may be 0 when no array is expected) with *consumed set; 0 when the reply is
 * not complete yet; -EPROTO when the bytes are not RESP or a nested array appears; -E2BIG when a
 * length is past its bound or an array has more than items_cap items. */
int hf_resp_parse(const uint8_t *buf, size_t size, struct hf_resp_value *out,
		  struct hf_resp_value *items, uint32_t items_cap, size_t *consumed);

/* The integer value of an INT item, or of a BULK item holding a decimal; -1 when neither. */
int hf_resp_to_u64(const struct hf_resp_value *v, uint64_t *out);

#endif
