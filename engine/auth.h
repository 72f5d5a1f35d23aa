/* Who may connect to holdfastd and what they may do (--auth-file FILE).
 *
 * FILE holds one `ROLE TOKEN` per line, ROLE `client` or `admin`; `#` starts a comment line and
 * blank lines are skipped. A token is 1..HF_AUTH_TOKEN_SIZE_MAX printable bytes without white
 * space. The file must be a regular file that neither group nor others may read or write (holdfastd
 * refuses to start otherwise, saying which chmod fixes it): a token is a password.
 *
 * With a file, a connection's first frame must be AUTH with one of the tokens; anything else is
 * answered UNAUTHORIZED and the connection is closed. A `client` token allows every op but the
 * admin ones (FORBIDDEN); `admin` allows everything. Without a file every connection is admin.
 *
 * Loaded once by main before the shards start, then read-only and shared by every shard thread.
 * Tokens are compared in constant time: every entry, every byte, whatever matches. */
#ifndef HF_ENGINE_AUTH_H
#define HF_ENGINE_AUTH_H

#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

#define HF_AUTH_TOKENS_MAX    1024u /* entries in one file */
#define HF_AUTH_LINE_SIZE_MAX 1024u /* bytes of one line, newline included */

struct hf_auth;

/* Reads and checks FILE. Returns 0 and *out, or -errno with a one-line reason in err (bad
 * permissions, a line that does not parse, too many tokens, a duplicate token). */
int hf_auth_load(const char *path, struct hf_auth **out, char *err, size_t err_size);
void hf_auth_destroy(struct hf_auth *auth);

/* The role a token gives: HF_ROLE_CLIENT, HF_ROLE_ADMIN, or HF_ROLE_NONE when no entry matches.
 * Constant time in the token's content (it depends only on the number of entries). Any thread. */
enum hf_role hf_auth_check(const struct hf_auth *auth, const uint8_t *token, size_t token_size);

/* Tokens loaded. */
uint32_t hf_auth_count(const struct hf_auth *auth);

#endif
