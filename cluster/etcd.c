/* The etcd v3 JSON-gateway client (see etcd.h): request bodies are built with jansson, sent with
 * one reused libcurl easy handle, and the replies parsed back into bounded structs.
 *
 * INVARIANTS
 *  1. resp.size <= resp.cap <= HF_ETCD_RESPONSE_SIZE_MAX + 1: a longer response aborts the transfer
 *     (-EMSGSIZE) instead of growing the buffer.
 *  2. 1 <= urls_count <= HF_ETCD_URLS_MAX and url_index < urls_count.
 *  3. Every decoded key is <= HF_ETCD_KEY_SIZE_MAX bytes, every value <= HF_ETCD_VALUE_SIZE_MAX,
 *     and both are NUL-terminated beyond their size.
 *  4. A call makes at most urls_count attempts, each bounded by timeout_ms. */
#include "cluster/etcd.h"

#include "base/assert.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A gateway message is a JSON object; the watch stream is one per line. */
#define ETCD_LINE_SIZE_MAX HF_ETCD_RESPONSE_SIZE_MAX
#define ETCD_B64_SIZE(n)   (4u * (((size_t)(n) + 2u) / 3u) + 1u)

struct buf {
	char *data;
	size_t size;
	size_t cap;
};

struct hf_etcd {
	CURL *curl;
	char urls[HF_ETCD_URLS_MAX][HF_ETCD_URL_SIZE_MAX + 1];
	uint32_t urls_count;
	uint32_t url_index;
	uint32_t timeout_ms;
	const atomic_int *cancel;
	char error[HF_ETCD_ERROR_SIZE];
	struct buf resp;
	int overflow; /* the response passed HF_ETCD_RESPONSE_SIZE_MAX */
	/* Watch stream state, valid during hf_etcd_watch only. */
	struct hf_etcd_events *watch_out;
	int watch_done;
	int watch_created; /* etcd confirmed the watch: a timeout then means "no change" */
	int watch_rc;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init_once(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

int hf_etcd_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return global_rc;
}

__attribute__((format(printf, 3, 4))) static int fail(struct hf_etcd *etcd, int rc, const char *fmt,
						      ...)
{
	HF_ASSERT(rc < 0);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(etcd->error, sizeof(etcd->error), fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- Base64 ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t hf_etcd_base64_encode(const uint8_t *in, size_t size, char *out, size_t cap)
{
	size_t need = ETCD_B64_SIZE(size);
	if (cap < need)
		return 0;
	size_t o = 0;
	for (size_t i = 0; i < size; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < size)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < size)
			v |= in[i + 2];
		out[o++] = b64_chars[(v >> 18) & 63];
		out[o++] = b64_chars[(v >> 12) & 63];
		out[o++] = i + 1 < size ? b64_chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < size ? b64_chars[v & 63] : '=';
	}
	out[o] = '\0';
	HF_ASSERT(o + 1 == need);
	return o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long hf_etcd_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	if (len % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int pad = (in[i + 2] == '=') + (in[i + 3] == '=');
		if (in[i + 3] != '=' && in[i + 2] == '=')
			return -1;
		if (pad > 0 && i + 4 != len)
			return -1;
		int a = b64_value(in[i]), b = b64_value(in[i + 1]);
		int c = pad >= 2 ? 0 : b64_value(in[i + 2]);
		int d = pad >= 1 ? 0 : b64_value(in[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0)
			return -1;
		uint32_t v =
		    ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6) | (uint32_t)d;
		size_t n = 3u - (size_t)pad;
		if (o + n > cap)
			return -1;
		out[o++] = (uint8_t)(v >> 16);
		if (n > 1)
			out[o++] = (uint8_t)(v >> 8);
		if (n > 2)
			out[o++] = (uint8_t)v;
	}
	return (long)o;
}

/* A JSON string holding base64 of bytes; NULL on allocation failure. */
static json_t *b64_json(const uint8_t *bytes, size_t size)
{
	size_t cap = ETCD_B64_SIZE(size);
	char *tmp = malloc(cap);
	if (tmp == NULL)
		return NULL;
	size_t n = hf_etcd_base64_encode(bytes, size, tmp, cap);
	HF_ASSERT(n + 1 == cap);
	json_t *s = json_stringn(tmp, n);
	free(tmp);
	return s;
}

static json_t *key_json(const char *key)
{
	return b64_json((const uint8_t *)key, strlen(key));
}

/* The end of the range of every key starting with key: key with its last byte incremented (bytes
 * 0xff are dropped first); "\0" (every key) when key is all 0xff. */
static json_t *prefix_end_json(const char *key)
{
	uint8_t end[HF_ETCD_KEY_SIZE_MAX];
	size_t n = strlen(key);
	HF_ASSERT(n <= sizeof(end));
	memcpy(end, key, n);
	while (n > 0 && end[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end[0] = 0;
		return b64_json(end, 1);
	}
	end[n - 1]++;
	return b64_json(end, n);
}

static json_t *i64_json(int64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

/* ---- Creation ---- */

static int parse_urls(struct hf_etcd *etcd, const char *urls, char *err, size_t err_size)
{
	const char *p = urls;
	etcd->urls_count = 0;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (etcd->urls_count == HF_ETCD_URLS_MAX) {
			snprintf(err, err_size, "more than %u etcd endpoints", HF_ETCD_URLS_MAX);
			return -EINVAL;
		}
		if (len <= 7 || len > HF_ETCD_URL_SIZE_MAX || strncmp(p, "http://", 7) != 0) {
			snprintf(err, err_size,
				 "etcd endpoint '%.*s' is not http://HOST:PORT (at most %u bytes)",
				 (int)(len > 64 ? 64 : len), p, HF_ETCD_URL_SIZE_MAX);
			return -EINVAL;
		}
		char *u = etcd->urls[etcd->urls_count++];
		memcpy(u, p, len);
		/* "http://h:p/" and "http://h:p" are the same endpoint. */
		size_t kept = len;
		while (kept > 7 && u[kept - 1] == '/')
			kept--;
		u[kept] = '\0';
		p = comma != NULL ? comma + 1 : p + len;
		if (comma != NULL && *p == '\0') {
			snprintf(err, err_size, "empty etcd endpoint after ','");
			return -EINVAL;
		}
	}
	if (etcd->urls_count == 0) {
		snprintf(err, err_size, "no etcd endpoint given");
		return -EINVAL;
	}
	return 0;
}

int hf_etcd_urls_check(const char *urls, char *err, size_t err_size)
{
	static _Thread_local struct hf_etcd scratch;
	memset(&scratch, 0, sizeof(scratch));
	return parse_urls(&scratch, urls, err, err_size);
}

int hf_etcd_create(const char *urls, uint32_t timeout_ms, struct hf_etcd **out, char *err,
		   size_t err_size)
{
	HF_ASSERT(urls != NULL);
	HF_ASSERT(out != NULL);
	if (timeout_ms > HF_ETCD_TIMEOUT_MS_MAX) {
		snprintf(err, err_size, "etcd timeout %u ms is past %u", timeout_ms,
			 HF_ETCD_TIMEOUT_MS_MAX);
		return -EINVAL;
	}
	if (hf_etcd_global_init() != 0) {
		snprintf(err, err_size, "curl_global_init failed");
		return -EIO;
	}
	struct hf_etcd *etcd = calloc(1, sizeof(*etcd));
	if (etcd == NULL)
		return -ENOMEM;
	int rc = parse_urls(etcd, urls, err, err_size);
	if (rc != 0)
		goto err_free;
	etcd->timeout_ms = timeout_ms != 0 ? timeout_ms : HF_ETCD_TIMEOUT_MS_DEFAULT;
	etcd->curl = curl_easy_init();
	if (etcd->curl == NULL) {
		snprintf(err, err_size, "curl_easy_init failed");
		rc = -ENOMEM;
		goto err_free;
	}
	*out = etcd;
	return 0;
err_free:
	free(etcd);
	return rc;
}

void hf_etcd_destroy(struct hf_etcd *etcd)
{
	if (etcd == NULL)
		return;
	curl_easy_cleanup(etcd->curl);
	free(etcd->resp.data);
	free(etcd);
}

void hf_etcd_set_cancel(struct hf_etcd *etcd, const atomic_int *cancel)
{
	etcd->cancel = cancel;
}

const char *hf_etcd_error(const struct hf_etcd *etcd)
{
	return etcd->error;
}

const char *hf_etcd_url(const struct hf_etcd *etcd)
{
	HF_ASSERT(etcd->url_index < etcd->urls_count);
	return etcd->urls[etcd->url_index];
}

/* ---- Transport ---- */

static int buf_append(struct buf *b, const char *data, size_t size)
{
	if (b->size + size > HF_ETCD_RESPONSE_SIZE_MAX)
		return -EMSGSIZE;
	if (b->size + size + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		while (cap < b->size + size + 1)
			cap *= 2;
		if (cap > HF_ETCD_RESPONSE_SIZE_MAX + 1)
			cap = HF_ETCD_RESPONSE_SIZE_MAX + 1;
		char *p = realloc(b->data, cap);
		if (p == NULL)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->size, data, size);
	b->size += size;
	b->data[b->size] = '\0';
	HF_ASSERT(b->size < b->cap);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hf_etcd *etcd = arg;
	if (buf_append(&etcd->resp, data, size * nmemb) != 0) {
		etcd->overflow = 1;
		return 0;
	}
	return size * nmemb;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	const struct hf_etcd *etcd = arg;
	return etcd->cancel != NULL && atomic_load(etcd->cancel) != 0;
}

static int curl_errno(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* One POST of body to url + path. Returns 0 with the response in etcd->resp and *http_code_out,
 * or -errno. */
static int post_once(struct hf_etcd *etcd, const char *url, const char *path, const char *body,
		     uint32_t timeout_ms, curl_write_callback write_fn, long *http_code_out)
{
	char full[HF_ETCD_URL_SIZE_MAX + 64];
	int n = snprintf(full, sizeof(full), "%s%s", url, path);
	HF_ASSERT(n > 0 && (size_t)n < sizeof(full));
	CURL *c = etcd->curl;
	curl_easy_reset(c);
	etcd->resp.size = 0;
	etcd->overflow = 0;
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip before a large body (a map is ~35 KiB in base64). */
	struct curl_slist *more = headers != NULL ? curl_slist_append(headers, "Expect:") : NULL;
	if (more == NULL) {
		curl_slist_free_all(headers);
		return -ENOMEM;
	}
	headers = more;
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_fn);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, etcd);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, etcd);
	CURLcode code = curl_easy_perform(c);
	curl_slist_free_all(headers);
	if (etcd->overflow)
		return fail(etcd, -EMSGSIZE, "etcd %s: response longer than %u bytes", full,
			    HF_ETCD_RESPONSE_SIZE_MAX);
	if (code != CURLE_OK)
		return fail(etcd, curl_errno(code), "etcd %s: %s", full, curl_easy_strerror(code));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_code_out);
	return 0;
}

/* A transport failure worth trying the next endpoint for. */
static int retryable(int rc)
{
	return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EHOSTUNREACH || rc == -EIO;
}

/* Checks a parsed gateway reply for an error object. Returns 0 or -EIO with the message kept. */
static int reply_error(struct hf_etcd *etcd, const char *path, long http_code, json_t *reply)
{
	json_t *msg = json_object_get(reply, "message");
	if (msg == NULL)
		msg = json_object_get(reply, "error");
	if (http_code == 200 && msg == NULL)
		return 0;
	const char *text = json_is_string(msg) ? json_string_value(msg) : "(no message)";
	return fail(etcd, -EIO, "etcd %s: HTTP %ld: %s", path, http_code, text);
}

/* POSTs body (consumed) to path on the first endpoint that answers and parses the reply into
 * *reply_out (owned by the caller). Returns 0 or -errno. */
static int call(struct hf_etcd *etcd, const char *path, json_t *body, json_t **reply_out)
{
	HF_ASSERT(body != NULL);
	etcd->error[0] = '\0';
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return fail(etcd, -ENOMEM, "etcd %s: out of memory", path);
	int rc = -EIO;
	long http_code = 0;
	for (uint32_t attempt = 0; attempt < etcd->urls_count; attempt++) {
		const char *url = etcd->urls[etcd->url_index];
		rc = post_once(etcd, url, path, text, etcd->timeout_ms, on_body, &http_code);
		if (rc == 0 || !retryable(rc))
			break;
		etcd->url_index = (etcd->url_index + 1) % etcd->urls_count;
	}
	free(text);
	if (rc != 0)
		return rc;
	json_error_t jerr;
	json_t *reply = json_loadb(etcd->resp.data, etcd->resp.size, 0, &jerr);
	if (!json_is_object(reply)) {
		json_decref(reply);
		return fail(etcd, -EPROTO, "etcd %s: HTTP %ld, not a JSON object: %s", path,
			    http_code, jerr.text);
	}
	rc = reply_error(etcd, path, http_code, reply);
	if (rc != 0) {
		json_decref(reply);
		return rc;
	}
	*reply_out = reply;
	return 0;
}

/* ---- Reply parsing ---- */

/* A 64-bit number that the gateway writes as a string (or, rarely, a number); 0 when missing. */
static int get_i64(json_t *obj, const char *name, int64_t *out)
{
	json_t *v = json_object_get(obj, name);
	*out = 0;
	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EPROTO;
	const char *s = json_string_value(v);
	char *end = NULL;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -EPROTO;
	*out = n;
	return 0;
}

static int header_revision(json_t *reply, int64_t *out)
{
	return get_i64(json_object_get(reply, "header"), "revision", out);
}

/* Decodes a base64 JSON string into a fresh NUL-terminated buffer of at most max bytes. A missing
 * field is the empty string. */
static int b64_field(json_t *obj, const char *name, size_t max, uint8_t **out, size_t *size_out)
{
	json_t *v = json_object_get(obj, name);
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	if (v != NULL && !json_is_string(v))
		return -EPROTO;
	size_t len = strlen(s);
	if (len / 4 * 3 > max + 2)
		return -EMSGSIZE;
	uint8_t *bytes = malloc(len / 4 * 3 + 1);
	if (bytes == NULL)
		return -ENOMEM;
	long n = hf_etcd_base64_decode(s, len, bytes, len / 4 * 3);
	if (n < 0 || (size_t)n > max) {
		free(bytes);
		return n < 0 ? -EPROTO : -EMSGSIZE;
	}
	bytes[n] = '\0';
	*out = bytes;
	*size_out = (size_t)n;
	return 0;
}

static void kv_free(struct hf_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	kv->key = NULL;
	kv->value = NULL;
}

static int kv_parse(json_t *obj, struct hf_etcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(obj))
		return -EPROTO;
	int rc = b64_field(obj, "key", HF_ETCD_KEY_SIZE_MAX, (uint8_t **)&kv->key, &kv->key_size);
	if (rc != 0)
		return rc;
	rc = b64_field(obj, "value", HF_ETCD_VALUE_SIZE_MAX, &kv->value, &kv->value_size);
	if (rc == 0)
		rc = get_i64(obj, "create_revision", &kv->create_revision);
	if (rc == 0)
		rc = get_i64(obj, "mod_revision", &kv->mod_revision);
	if (rc == 0)
		rc = get_i64(obj, "version", &kv->version);
	if (rc == 0)
		rc = get_i64(obj, "lease", &kv->lease);
	if (rc != 0)
		kv_free(kv);
	return rc;
}

static int kvs_parse(json_t *reply, struct hf_etcd_kvs *out)
{
	memset(out, 0, sizeof(*out));
	json_t *kvs = json_object_get(reply, "kvs");
	size_t n = json_is_array(kvs) ? json_array_size(kvs) : 0;
	if (kvs != NULL && !json_is_array(kvs))
		return -EPROTO;
	if (n > HF_ETCD_RANGE_KVS_MAX)
		return -EMSGSIZE;
	int rc = header_revision(reply, &out->revision);
	if (rc != 0)
		return rc;
	out->more = json_is_true(json_object_get(reply, "more"));
	if (n == 0)
		return 0;
	out->kvs = calloc(n, sizeof(*out->kvs));
	if (out->kvs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		rc = kv_parse(json_array_get(kvs, i), &out->kvs[i]);
		if (rc != 0) {
			hf_etcd_kvs_free(out);
			return rc;
		}
		out->count++;
	}
	return 0;
}

void hf_etcd_kvs_free(struct hf_etcd_kvs *kvs)
{
	HF_ASSERT(kvs->count == 0 || kvs->kvs != NULL);
	for (uint32_t i = 0; i < kvs->count; i++)
		kv_free(&kvs->kvs[i]);
	free(kvs->kvs);
	memset(kvs, 0, sizeof(*kvs));
}

/* ---- KV ---- */

static int check_key(struct hf_etcd *etcd, const char *key)
{
	size_t n = strnlen(key, HF_ETCD_KEY_SIZE_MAX + 1);
	if (n == 0 || n > HF_ETCD_KEY_SIZE_MAX)
		return fail(etcd, -EINVAL, "etcd key of %zu bytes (1..%u)", n,
			    HF_ETCD_KEY_SIZE_MAX);
	return 0;
}

/* Sets "key" and, with prefix, "range_end" on obj. Returns 0 or -ENOMEM. */
static int set_key_range(json_t *obj, const char *key, int prefix)
{
	if (json_object_set_new(obj, "key", key_json(key)) != 0)
		return -ENOMEM;
	if (prefix && json_object_set_new(obj, "range_end", prefix_end_json(key)) != 0)
		return -ENOMEM;
	return 0;
}

int hf_etcd_range(struct hf_etcd *etcd, const char *key, int prefix, struct hf_etcd_kvs *out)
{
	memset(out, 0, sizeof(*out));
	int rc = check_key(etcd, key);
	if (rc != 0)
		return rc;
	json_t *body = json_object();
	if (body == NULL || set_key_range(body, key, prefix) != 0 ||
	    json_object_set_new(body, "limit", i64_json(HF_ETCD_RANGE_KVS_MAX)) != 0) {
		json_decref(body);
		return fail(etcd, -ENOMEM, "etcd range: out of memory");
	}
	json_t *reply = NULL;
	rc = call(etcd, "/v3/kv/range", body, &reply);
	if (rc != 0)
		return rc;
	rc = kvs_parse(reply, out);
	json_decref(reply);
	if (rc != 0)
		return fail(etcd, rc, "etcd range %s: bad reply (%s)", key, strerror(-rc));
	HF_ASSERT(out->count <= HF_ETCD_RANGE_KVS_MAX);
	return 0;
}

int hf_etcd_get(struct hf_etcd *etcd, const char *key, struct hf_etcd_kvs *out)
{
	int rc = hf_etcd_range(etcd, key, 0, out);
	if (rc != 0)
		return rc;
	if (out->count == 0)
		return fail(etcd, -ENOENT, "etcd: no key %s", key);
	HF_ASSERT(out->count == 1);
	return 0;
}

int hf_etcd_put(struct hf_etcd *etcd, const char *key, const uint8_t *value, size_t value_size,
		int64_t lease, int64_t *revision_out)
{
	int rc = check_key(etcd, key);
	if (rc != 0)
		return rc;
	if (value_size > HF_ETCD_VALUE_SIZE_MAX)
		return fail(etcd, -EMSGSIZE, "etcd put %s: value of %zu bytes past %u", key,
			    value_size, HF_ETCD_VALUE_SIZE_MAX);
	json_t *body = json_object();
	if (body == NULL || set_key_range(body, key, 0) != 0 ||
	    json_object_set_new(body, "value", b64_json(value, value_size)) != 0 ||
	    (lease != 0 && json_object_set_new(body, "lease", i64_json(lease)) != 0)) {
		json_decref(body);
		return fail(etcd, -ENOMEM, "etcd put: out of memory");
	}
	json_t *reply = NULL;
	rc = call(etcd, "/v3/kv/put", body, &reply);
	if (rc != 0)
		return rc;
	int64_t revision = 0;
	rc = header_revision(reply, &revision);
	json_decref(reply);
	if (rc != 0)
		return fail(etcd, rc, "etcd put %s: bad reply", key);
	if (revision_out != NULL)
		*revision_out = revision;
	return 0;
}

int hf_etcd_delete(struct hf_etcd *etcd, const char *key, int prefix, uint64_t *deleted_out)
{
	int rc = check_key(etcd, key);
	if (rc != 0)
		return rc;
	json_t *body = json_object();
	if (body == NULL || set_key_range(body, key, prefix) != 0) {
		json_decref(body);
		return fail(etcd, -ENOMEM, "etcd delete: out of memory");
	}
	json_t *reply = NULL;
	rc = call(etcd, "/v3/kv/deleterange", body, &reply);
	if (rc != 0)
		return rc;
	int64_t deleted = 0;
	rc = get_i64(reply, "deleted", &deleted);
	json_decref(reply);
	if (rc != 0 || deleted < 0)
		return fail(etcd, -EPROTO, "etcd delete %s: bad reply", key);
	if (deleted_out != NULL)
		*deleted_out = (uint64_t)deleted;
	return 0;
}

/* ---- Txn ---- */

static json_t *cmp_json(const struct hf_etcd_cmp *cmp)
{
	static const char *const targets[] = {"VALUE", "MOD", "VERSION", "CREATE"};
	static const char *const fields[] = {"value", "mod_revision", "version", "create_revision"};
	static const char *const results[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
	HF_ASSERT((unsigned)cmp->target < HF_ARRAY_SIZE(targets));
	HF_ASSERT((unsigned)cmp->result < HF_ARRAY_SIZE(results));
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	json_t *operand = cmp->target == HF_ETCD_CMP_VALUE ? b64_json(cmp->value, cmp->value_size)
							   : i64_json(cmp->number);
	if (json_object_set_new(o, "key", key_json(cmp->key)) != 0 ||
	    json_object_set_new(o, "target", json_string(targets[cmp->target])) != 0 ||
	    json_object_set_new(o, "result", json_string(results[cmp->result])) != 0 ||
	    json_object_set_new(o, fields[cmp->target], operand) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *op_json(const struct hf_etcd_op *op)
{
	json_t *inner = json_object();
	json_t *o = json_object();
	if (inner == NULL || o == NULL)
		goto err_free;
	if (op->kind == HF_ETCD_OP_PUT) {
		if (set_key_range(inner, op->key, 0) != 0 ||
		    json_object_set_new(inner, "value", b64_json(op->value, op->value_size)) != 0 ||
		    (op->lease != 0 && json_object_set_new(inner, "lease", i64_json(op->lease))))
			goto err_free;
		if (json_object_set_new(o, "request_put", inner) != 0)
			goto err_free_outer;
		return o;
	}
	if (set_key_range(inner, op->key, op->kind == HF_ETCD_OP_DELETE_PREFIX) != 0)
		goto err_free;
	if (json_object_set_new(o, "request_delete_range", inner) != 0)
		goto err_free_outer;
	return o;
err_free:
	json_decref(inner);
err_free_outer:
	json_decref(o);
	return NULL;
}

static int txn_check(struct hf_etcd *etcd, const struct hf_etcd_txn *txn)
{
	if (txn->cmps_count > HF_ETCD_TXN_COMPARES_MAX || txn->then_count > HF_ETCD_TXN_OPS_MAX ||
	    txn->otherwise_count > HF_ETCD_TXN_OPS_MAX)
		return fail(etcd, -EINVAL, "etcd txn: more than %u compares or %u ops",
			    HF_ETCD_TXN_COMPARES_MAX, HF_ETCD_TXN_OPS_MAX);
	for (uint32_t i = 0; i < txn->cmps_count; i++)
		if (check_key(etcd, txn->cmps[i].key) != 0)
			return -EINVAL;
	for (uint32_t i = 0; i < txn->then_count; i++)
		if (check_key(etcd, txn->then[i].key) != 0 ||
		    txn->then[i].value_size > HF_ETCD_VALUE_SIZE_MAX)
			return fail(etcd, -EINVAL, "etcd txn: bad key or value size");
	for (uint32_t i = 0; i < txn->otherwise_count; i++)
		if (check_key(etcd, txn->otherwise[i].key) != 0 ||
		    txn->otherwise[i].value_size > HF_ETCD_VALUE_SIZE_MAX)
			return fail(etcd, -EINVAL, "etcd txn: bad key or value size");
	return 0;
}

static json_t *txn_json(const struct hf_etcd_txn *txn)
{
	json_t *body = json_object();
	json_t *cmps = json_array();
	json_t *then = json_array();
	json_t *otherwise = json_array();
	int bad = body == NULL || cmps == NULL || then == NULL || otherwise == NULL;
	for (uint32_t i = 0; !bad && i < txn->cmps_count; i++)
		bad = json_array_append_new(cmps, cmp_json(&txn->cmps[i])) != 0;
	for (uint32_t i = 0; !bad && i < txn->then_count; i++)
		bad = json_array_append_new(then, op_json(&txn->then[i])) != 0;
	for (uint32_t i = 0; !bad && i < txn->otherwise_count; i++)
		bad = json_array_append_new(otherwise, op_json(&txn->otherwise[i])) != 0;
	if (!bad)
		bad = json_object_set(body, "compare", cmps) != 0 ||
		      json_object_set(body, "success", then) != 0 ||
		      json_object_set(body, "failure", otherwise) != 0;
	json_decref(cmps);
	json_decref(then);
	json_decref(otherwise);
	if (bad) {
		json_decref(body);
		return NULL;
	}
	return body;
}

int hf_etcd_txn(struct hf_etcd *etcd, const struct hf_etcd_txn *txn, int *succeeded_out,
		int64_t *revision_out)
{
	HF_ASSERT(succeeded_out != NULL);
	int rc = txn_check(etcd, txn);
	if (rc != 0)
		return rc;
	json_t *body = txn_json(txn);
	if (body == NULL)
		return fail(etcd, -ENOMEM, "etcd txn: out of memory");
	json_t *reply = NULL;
	rc = call(etcd, "/v3/kv/txn", body, &reply);
	if (rc != 0)
		return rc;
	int64_t revision = 0;
	rc = header_revision(reply, &revision);
	*succeeded_out = json_is_true(json_object_get(reply, "succeeded"));
	json_decref(reply);
	if (rc != 0)
		return fail(etcd, rc, "etcd txn: bad reply");
	if (revision_out != NULL)
		*revision_out = revision;
	return 0;
}

/* ---- Leases ---- */

int hf_etcd_lease_grant(struct hf_etcd *etcd, uint32_t ttl_s, int64_t *lease_out)
{
	if (ttl_s == 0 || ttl_s > HF_ETCD_LEASE_TTL_S_MAX)
		return fail(etcd, -EINVAL, "etcd lease TTL %u s not in 1..%u", ttl_s,
			    HF_ETCD_LEASE_TTL_S_MAX);
	json_t *body = json_object();
	if (body == NULL || json_object_set_new(body, "TTL", i64_json(ttl_s)) != 0) {
		json_decref(body);
		return fail(etcd, -ENOMEM, "etcd lease grant: out of memory");
	}
	json_t *reply = NULL;
	int rc = call(etcd, "/v3/lease/grant", body, &reply);
	if (rc != 0)
		return rc;
	int64_t id = 0;
	rc = get_i64(reply, "ID", &id);
	json_decref(reply);
	if (rc != 0 || id == 0)
		return fail(etcd, -EPROTO, "etcd lease grant: no lease id in the reply");
	*lease_out = id;
	return 0;
}

int hf_etcd_lease_keepalive(struct hf_etcd *etcd, int64_t lease, uint32_t *ttl_s_out)
{
	json_t *body = json_object();
	if (body == NULL || json_object_set_new(body, "ID", i64_json(lease)) != 0) {
		json_decref(body);
		return fail(etcd, -ENOMEM, "etcd keepalive: out of memory");
	}
	json_t *reply = NULL;
	int rc = call(etcd, "/v3/lease/keepalive", body, &reply);
	if (rc != 0)
		return rc;
	/* The gateway streams: one {"result":{...}} per request sent. */
	int64_t ttl = 0;
	rc = get_i64(json_object_get(reply, "result"), "TTL", &ttl);
	json_decref(reply);
	if (rc != 0)
		return fail(etcd, -EPROTO, "etcd keepalive: bad reply");
	if (ttl <= 0)
		return fail(etcd, -ENOENT, "etcd lease %" PRId64 " expired or revoked", lease);
	if (ttl_s_out != NULL)
		*ttl_s_out = (uint32_t)(ttl > UINT32_MAX ? UINT32_MAX : ttl);
	return 0;
}

int hf_etcd_lease_revoke(struct hf_etcd *etcd, int64_t lease)
{
	json_t *body = json_object();
	if (body == NULL || json_object_set_new(body, "ID", i64_json(lease)) != 0) {
		json_decref(body);
		return fail(etcd, -ENOMEM, "etcd revoke: out of memory");
	}
	json_t *reply = NULL;
	int rc = call(etcd, "/v3/lease/revoke", body, &reply);
	if (rc == -EIO && strstr(etcd->error, "not found") != NULL) {
		etcd->error[0] = '\0';
		return 0;
	}
	if (rc != 0)
		return rc;
	json_decref(reply);
	return 0;
}

/* ---- Watch ---- */

static int events_parse(json_t *events, struct hf_etcd_events *out)
{
	size_t n = json_array_size(events);
	if (n > HF_ETCD_WATCH_EVENTS_MAX)
		return -EMSGSIZE;
	out->events = calloc(n == 0 ? 1 : n, sizeof(*out->events));
	if (out->events == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(events, i);
		json_t *type = json_object_get(e, "type");
		struct hf_etcd_event *ev = &out->events[out->count];
		int rc = kv_parse(json_object_get(e, "kv"), &ev->kv);
		if (rc != 0)
			return rc;
		out->count++;
		ev->type = json_is_string(type) && strcmp(json_string_value(type), "DELETE") == 0
			       ? HF_ETCD_EVENT_DELETE
			       : HF_ETCD_EVENT_PUT;
		if (ev->kv.mod_revision >= out->next_revision)
			out->next_revision = ev->kv.mod_revision + 1;
	}
	return 0;
}

/* One message of the watch stream. Sets watch_done when it carries events, a compaction or a
 * cancellation. */
static void watch_message(struct hf_etcd *etcd, const char *line, size_t size)
{
	json_error_t jerr;
	json_t *msg = json_loadb(line, size, 0, &jerr);
	json_t *result = json_object_get(msg, "result");
	if (!json_is_object(result)) {
		etcd->watch_rc = fail(etcd, -EPROTO, "etcd watch: bad message: %s",
				      msg == NULL ? jerr.text : "no result");
		etcd->watch_done = 1;
		json_decref(msg);
		return;
	}
	int64_t compact = 0;
	(void)get_i64(result, "compact_revision", &compact);
	if (json_is_true(json_object_get(result, "created")))
		etcd->watch_created = 1;
	json_t *events = json_object_get(result, "events");
	if (compact > 0) {
		etcd->watch_out->compacted = 1;
		etcd->watch_done = 1;
	} else if (json_is_array(events) && json_array_size(events) > 0) {
		etcd->watch_rc = events_parse(events, etcd->watch_out);
		etcd->watch_done = 1;
	} else if (json_is_true(json_object_get(result, "canceled"))) {
		etcd->watch_rc = fail(etcd, -EIO, "etcd watch canceled by the server");
		etcd->watch_done = 1;
	}
	json_decref(msg);
}

static size_t on_watch_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hf_etcd *etcd = arg;
	if (buf_append(&etcd->resp, data, size * nmemb) != 0) {
		etcd->overflow = 1;
		return 0;
	}
	char *nl;
	while (!etcd->watch_done && (nl = memchr(etcd->resp.data, '\n', etcd->resp.size)) != NULL) {
		size_t line = (size_t)(nl - etcd->resp.data);
		if (line > 0)
			watch_message(etcd, etcd->resp.data, line);
		memmove(etcd->resp.data, nl + 1, etcd->resp.size - line - 1);
		etcd->resp.size -= line + 1;
	}
	/* Returning less than given ends the transfer: the events are in. */
	return etcd->watch_done ? 0 : size * nmemb;
}

static json_t *watch_body(const char *key, int prefix, int64_t start_revision)
{
	json_t *req = json_object();
	json_t *body = json_object();
	if (req == NULL || body == NULL || set_key_range(req, key, prefix) != 0 ||
	    json_object_set_new(req, "start_revision", i64_json(start_revision)) != 0 ||
	    json_object_set(body, "create_request", req) != 0) {
		json_decref(req);
		json_decref(body);
		return NULL;
	}
	json_decref(req);
	return body;
}

int hf_etcd_watch(struct hf_etcd *etcd, const char *key, int prefix, int64_t start_revision,
		  uint32_t timeout_ms, struct hf_etcd_events *out)
{
	memset(out, 0, sizeof(*out));
	out->next_revision = start_revision;
	int rc = check_key(etcd, key);
	if (rc != 0)
		return rc;
	if (start_revision < 1 || timeout_ms == 0 || timeout_ms > HF_ETCD_TIMEOUT_MS_MAX)
		return fail(etcd, -EINVAL, "etcd watch: bad start revision or timeout");
	json_t *body = watch_body(key, prefix, start_revision);
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return fail(etcd, -ENOMEM, "etcd watch: out of memory");
	etcd->error[0] = '\0';
	etcd->watch_out = out;
	etcd->watch_done = 0;
	etcd->watch_created = 0;
	etcd->watch_rc = 0;
	long http_code = 0;
	for (uint32_t attempt = 0; attempt < etcd->urls_count; attempt++) {
		rc = post_once(etcd, etcd->urls[etcd->url_index], "/v3/watch", text, timeout_ms,
			       on_watch_body, &http_code);
		/* Ended by us (events in) or by the timeout (none came): both are answers. */
		if (etcd->watch_done || rc == -ETIMEDOUT || rc == 0 || !retryable(rc))
			break;
		etcd->url_index = (etcd->url_index + 1) % etcd->urls_count;
	}
	free(text);
	etcd->watch_out = NULL;
	if (etcd->watch_done)
		rc = etcd->watch_rc;
	else if (rc == -ETIMEDOUT && etcd->watch_created)
		rc = 0; /* etcd accepted the watch and nothing changed in time */
	else if (rc == 0)
		rc = fail(etcd, -EPROTO, "etcd watch: stream ended (HTTP %ld)", http_code);
	if (rc != 0)
		hf_etcd_events_free(out);
	else
		etcd->error[0] = '\0';
	return rc;
}

void hf_etcd_events_free(struct hf_etcd_events *events)
{
	for (uint32_t i = 0; i < events->count; i++)
		kv_free(&events->events[i].kv);
	free(events->events);
	events->events = NULL;
	events->count = 0;
}
