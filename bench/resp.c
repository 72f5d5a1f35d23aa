/* RESP2 encoding and bounded parsing (see resp.h). */
#include "bench/resp.h"

#include "base/assert.h"

#include <errno.h>
#include <string.h>

void hf_resp_writer_init(struct hf_resp_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->size = 0;
	w->cap = cap;
	w->overflow = 0;
}

static void put(struct hf_resp_writer *w, const void *data, size_t size)
{
	if (w->overflow || size > w->cap - w->size) {
		w->overflow = 1;
		return;
	}
	memcpy(w->buf + w->size, data, size);
	w->size += size;
}

static void put_header(struct hf_resp_writer *w, char kind, uint64_t n)
{
	char tmp[24];
	size_t len = 0;
	tmp[len++] = kind;
	char digits[20];
	size_t d = 0;
	do {
		digits[d++] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	while (d > 0)
		tmp[len++] = digits[--d];
	tmp[len++] = '\r';
	tmp[len++] = '\n';
	HF_ASSERT(len <= sizeof(tmp));
	put(w, tmp, len);
}

void hf_resp_write_array(struct hf_resp_writer *w, uint32_t args_count)
{
	put_header(w, '*', args_count);
}

void hf_resp_write_bulk(struct hf_resp_writer *w, const void *data, size_t size)
{
	put_header(w, '$', size);
	put(w, data, size);
	put(w, "\r\n", 2);
}

void hf_resp_write_str(struct hf_resp_writer *w, const char *s)
{
	hf_resp_write_bulk(w, s, strlen(s));
}

void hf_resp_write_u64(struct hf_resp_writer *w, uint64_t v)
{
	char digits[20], tmp[20];
	size_t d = 0, len = 0;
	do {
		digits[d++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (d > 0)
		tmp[len++] = digits[--d];
	hf_resp_write_bulk(w, tmp, len);
}

/* Finds the CRLF ending the line that starts at buf[pos]. Returns its index (of '\r'), -1 when not
 * there yet, -2 when the line is longer than any we accept. */
static long line_end(const uint8_t *buf, size_t size, size_t pos)
{
	size_t limit = size;
	if (limit - pos > HF_RESP_LINE_SIZE_MAX)
		limit = pos + HF_RESP_LINE_SIZE_MAX;
	for (size_t i = pos; i + 1 < limit; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n')
			return (long)i;
	}
	return limit < size ? -2 : -1;
}

static int parse_int(const uint8_t *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0;
	if (n == 0)
		return -1;
	if (s[0] == '-') {
		neg = 1;
		i = 1;
		if (n == 1)
			return -1;
	}
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (uint64_t)INT64_MAX / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* One scalar value at buf[*pos]; arrays are refused. Same returns as hf_resp_parse. */
static int parse_scalar(const uint8_t *buf, size_t size, size_t *pos, struct hf_resp_value *out)
{
	if (*pos >= size)
		return 0;
	long end = line_end(buf, size, *pos + 1);
	if (end == -1)
		return 0;
	if (end == -2)
		return -E2BIG;
	const uint8_t *line = buf + *pos + 1;
	size_t line_size = (size_t)end - *pos - 1;
	size_t next = (size_t)end + 2;
	memset(out, 0, sizeof(*out));
	switch (buf[*pos]) {
	case '+':
	case '-':
		out->type = buf[*pos] == '+' ? HF_RESP_STATUS : HF_RESP_ERROR;
		out->str = line;
		out->str_size = (uint32_t)line_size;
		*pos = next;
		return 1;
	case ':':
		if (parse_int(line, line_size, &out->integer) != 0)
			return -EPROTO;
		out->type = HF_RESP_INT;
		*pos = next;
		return 1;
	case '$': {
		int64_t n;
		if (parse_int(line, line_size, &n) != 0 || n < -1)
			return -EPROTO;
		if (n == -1) {
			out->type = HF_RESP_NIL;
			*pos = next;
			return 1;
		}
		if ((uint64_t)n > HF_RESP_BULK_SIZE_MAX)
			return -E2BIG;
		if (size - next < (size_t)n + 2)
			return 0;
		if (buf[next + (size_t)n] != '\r' || buf[next + (size_t)n + 1] != '\n')
			return -EPROTO;
		out->type = HF_RESP_BULK;
		out->str = buf + next;
		out->str_size = (uint32_t)n;
		*pos = next + (size_t)n + 2;
		return 1;
	}
	default:
		return -EPROTO;
	}
}

int hf_resp_parse(const uint8_t *buf, size_t size, struct hf_resp_value *out,
		  struct hf_resp_value *items, uint32_t items_cap, size_t *consumed)
{
	size_t pos = 0;
	if (size == 0)
		return 0;
	if (buf[0] != '*') {
		int rc = parse_scalar(buf, size, &pos, out);
		if (rc == 1)
			*consumed = pos;
		return rc;
	}
	long end = line_end(buf, size, 1);
	if (end == -1)
		return 0;
	if (end == -2)
		return -E2BIG;
	int64_t n;
	if (parse_int(buf + 1, (size_t)end - 1, &n) != 0 || n < -1)
		return -EPROTO;
	pos = (size_t)end + 2;
	memset(out, 0, sizeof(*out));
	if (n == -1) {
		out->type = HF_RESP_NIL;
		*consumed = pos;
		return 1;
	}
	if ((uint64_t)n > HF_RESP_ARRAY_SIZE_MAX || (uint64_t)n > items_cap)
		return -E2BIG;
	for (uint32_t i = 0; i < (uint32_t)n; i++) {
		if (pos < size && buf[pos] == '*')
			return -EPROTO;
		int rc = parse_scalar(buf, size, &pos, &items[i]);
		if (rc != 1)
			return rc;
	}
	out->type = HF_RESP_ARRAY;
	out->items_count = (uint32_t)n;
	*consumed = pos;
	HF_ASSERT(pos <= size);
	return 1;
}

int hf_resp_to_u64(const struct hf_resp_value *v, uint64_t *out)
{
	if (v->type == HF_RESP_INT) {
		if (v->integer < 0)
			return -1;
		*out = (uint64_t)v->integer;
		return 0;
	}
	if (v->type != HF_RESP_BULK || v->str_size == 0 || v->str_size > 20)
		return -1;
	uint64_t x = 0;
	for (uint32_t i = 0; i < v->str_size; i++) {
		uint8_t c = v->str[i];
		if (c < '0' || c > '9')
			return -1;
		uint64_t d = (uint64_t)(c - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}
