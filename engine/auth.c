/* The token file of holdfastd (see auth.h).
 *
 * INVARIANTS
 *  1. 1 <= entries[i].size <= HF_AUTH_TOKEN_SIZE_MAX; bytes past size are zero, so every compare
 *     reads HF_AUTH_TOKEN_SIZE_MAX bytes of each entry.
 *  2. No two entries hold the same token; count <= HF_AUTH_TOKENS_MAX. */
#include "engine/auth.h"

#include "base/assert.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct auth_entry {
	uint8_t role; /* enum hf_role, never NONE */
	uint16_t size;
	uint8_t token[HF_AUTH_TOKEN_SIZE_MAX];
};

struct hf_auth {
	uint32_t count;
	struct auth_entry entries[HF_AUTH_TOKENS_MAX];
};

static int fail(char *err, size_t err_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t err_size, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return rc;
}

static int check_mode(const char *path, FILE *f, char *err, size_t err_size)
{
	struct stat st;
	if (fstat(fileno(f), &st) != 0)
		return fail(err, err_size, -errno, "--auth-file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, err_size, -EINVAL, "--auth-file %s: not a regular file", path);
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return fail(err, err_size, -EPERM,
			    "--auth-file %s: mode %04o lets group or others read it; tokens are "
			    "secrets: chmod 600 %s",
			    path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

/* Parses one line (NUL-terminated, newline removed) into e. Returns 1 for an entry, 0 for a
 * comment or blank line, -1 when it does not parse (why in err). */
static int parse_line(char *line, struct auth_entry *e, const char **why)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	char *role = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p == '\0') {
		*why = "expected ROLE TOKEN";
		return -1;
	}
	*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	char *token = p;
	while (*p > ' ' && *p < 0x7f)
		p++;
	char *end = p;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (*p != '\0') {
		*why = "the token has a non-printable byte, or there is a third field";
		return -1;
	}
	size_t size = (size_t)(end - token);
	if (strcmp(role, "client") == 0)
		e->role = HF_ROLE_CLIENT;
	else if (strcmp(role, "admin") == 0)
		e->role = HF_ROLE_ADMIN;
	else {
		*why = "ROLE must be client or admin";
		return -1;
	}
	if (size == 0 || size > HF_AUTH_TOKEN_SIZE_MAX) {
		*why = "the token must have 1..256 bytes";
		return -1;
	}
	memset(e->token, 0, sizeof(e->token));
	memcpy(e->token, token, size);
	e->size = (uint16_t)size;
	return 1;
}

static int read_entries(struct hf_auth *a, const char *path, FILE *f, char *err, size_t err_size)
{
	char line[HF_AUTH_LINE_SIZE_MAX + 1];
	/* Bounded: the file is read once; entries are capped below. */
	for (uint32_t number = 1; fgets(line, sizeof(line), f) != NULL; number++) {
		size_t len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f))
			return fail(err, err_size, -EINVAL,
				    "--auth-file %s:%u: line longer than %u", path, number,
				    HF_AUTH_LINE_SIZE_MAX);
		struct auth_entry e;
		const char *why = NULL;
		int rc = parse_line(line, &e, &why);
		if (rc < 0)
			return fail(err, err_size, -EINVAL, "--auth-file %s:%u: %s", path, number,
				    why);
		if (rc == 0)
			continue;
		if (a->count == HF_AUTH_TOKENS_MAX)
			return fail(err, err_size, -E2BIG, "--auth-file %s: more than %u tokens",
				    path, HF_AUTH_TOKENS_MAX);
		if (hf_auth_check(a, e.token, e.size) != HF_ROLE_NONE)
			return fail(err, err_size, -EINVAL, "--auth-file %s:%u: duplicate token",
				    path, number);
		a->entries[a->count++] = e;
	}
	if (ferror(f))
		return fail(err, err_size, -EIO, "--auth-file %s: read error", path);
	if (a->count == 0)
		return fail(err, err_size, -EINVAL, "--auth-file %s: no token in it", path);
	return 0;
}

int hf_auth_load(const char *path, struct hf_auth **out, char *err, size_t err_size)
{
	HF_ASSERT(path != NULL);
	HF_ASSERT(out != NULL);
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return fail(err, err_size, -errno, "--auth-file %s: %s", path, strerror(errno));
	struct hf_auth *a = calloc(1, sizeof(*a));
	int rc = a == NULL ? fail(err, err_size, -ENOMEM, "--auth-file: out of memory")
			   : check_mode(path, f, err, err_size);
	if (rc == 0)
		rc = read_entries(a, path, f, err, err_size);
	fclose(f);
	if (rc != 0) {
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void hf_auth_destroy(struct hf_auth *auth)
{
	free(auth);
}

uint32_t hf_auth_count(const struct hf_auth *auth)
{
	return auth->count;
}

enum hf_role hf_auth_check(const struct hf_auth *auth, const uint8_t *token, size_t token_size)
{
	HF_ASSERT(auth->count <= HF_AUTH_TOKENS_MAX);
	uint8_t padded[HF_AUTH_TOKEN_SIZE_MAX];
	memset(padded, 0, sizeof(padded));
	if (token_size == 0 || token_size > HF_AUTH_TOKEN_SIZE_MAX)
		return HF_ROLE_NONE;
	memcpy(padded, token, token_size);
	unsigned role = HF_ROLE_NONE;
	for (uint32_t i = 0; i < auth->count; i++) {
		const struct auth_entry *e = &auth->entries[i];
		unsigned diff = (unsigned)(e->size ^ token_size);
		for (size_t j = 0; j < HF_AUTH_TOKEN_SIZE_MAX; j++)
			diff |= (unsigned)(e->token[j] ^ padded[j]);
		/* mask is all ones when diff == 0, else zero: no branch on the content. */
		unsigned mask =
		    (unsigned)((diff | (0u - diff)) >> (sizeof(unsigned) * 8u - 1u)) - 1u;
		role |= mask & e->role;
	}
	return (enum hf_role)role;
}
