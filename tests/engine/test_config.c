/* Goal: holdfastd's flags parse to the documented defaults and values, and every bad flag is one
 * clear refusal (never a crash, never a silent default).
 * Method: call hf_engine_config_parse on argument vectors: defaults, every flag in both spellings
 * ("--flag value", "--flag=value"), then unknown flags, missing values, values out of range, and
 * combinations that are refused. */
#include "engine/config.h"
#include "engine/repl.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

static enum hf_config_parse parse(struct hf_engine_config *cfg, char *err, int argc, ...)
{
	char *argv[32];
	va_list ap;
	va_start(ap, argc);
	argv[0] = "holdfastd";
	for (int i = 1; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	return hf_engine_config_parse(argc, argv, 2, cfg, err, 256);
}

static void test_defaults(void **state)
{
	(void)state;
	struct hf_engine_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, 1), HF_CONFIG_OK);
	assert_string_equal(cfg.host, "127.0.0.1");
	assert_int_equal(cfg.port, 7070);
	assert_int_equal(cfg.shards_count, 2); /* the CPU count given */
	assert_string_equal(cfg.data_dir, "./data");
	assert_int_equal(cfg.durability, HF_DURABILITY_FSYNC);
	assert_int_equal(cfg.connections_max, HF_ENGINE_CONNECTIONS_DEFAULT);
	assert_int_equal(cfg.conn_buffer_size_max, HF_ENGINE_CONN_BUFFER_DEFAULT);
	assert_int_equal(cfg.idle_timeout_s, HF_ENGINE_IDLE_TIMEOUT_DEFAULT_S);
	assert_int_equal(cfg.frame_timeout_s, HF_ENGINE_FRAME_TIMEOUT_DEFAULT_S);
	assert_int_equal(cfg.shed_after_ms, HF_ENGINE_SHED_AFTER_MS_DEFAULT);
	assert_string_equal(cfg.auth_file, "");
	assert_string_equal(cfg.backup_root, "");
	assert_int_equal(cfg.pin, 1);
	assert_int_equal(cfg.prefault, 0);
	assert_int_equal(cfg.log_level, HF_LOG_INFO);
	struct hf_store_config store;
	hf_store_config_default(&store);
	/* Field by field: the struct has padding, which neither side promises to clear. */
	assert_int_equal(cfg.store.events_max, store.events_max);
	assert_int_equal(cfg.store.seats_max, store.seats_max);
	assert_int_equal(cfg.store.records_max, store.records_max);
	assert_int_equal(cfg.store.tombstone_ttl_ms, store.tombstone_ttl_ms);
	assert_string_equal(cfg.restore_from, "");
}

static void test_every_flag(void **state)
{
	(void)state;
	struct hf_engine_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, 23, "--listen", "10.1.2.3:9000", "--shards=3",
			       "--data-dir", "/tmp/x", "--durability=wal", "--restore-from",
			       "/tmp/b", "--force", "--max-connections=7", "--max-conn-buffer",
			       "65536", "--idle-timeout=30", "--hold-lifetime-max", "600",
			       "--events-max=5", "--seats-max", "1000", "--records-max=99",
			       "--log-level", "debug", "--no-pin"),
			 HF_CONFIG_OK);
	assert_string_equal(cfg.host, "10.1.2.3");
	assert_int_equal(cfg.port, 9000);
	assert_int_equal(cfg.shards_count, 3);
	assert_string_equal(cfg.data_dir, "/tmp/x");
	assert_int_equal(cfg.durability, HF_DURABILITY_WAL);
	assert_string_equal(cfg.restore_from, "/tmp/b");
	assert_int_equal(cfg.force, 1);
	assert_int_equal(cfg.connections_max, 7);
	assert_int_equal(cfg.conn_buffer_size_max, 65536);
	assert_int_equal(cfg.idle_timeout_s, 30);
	assert_int_equal(cfg.hold_lifetime_max_s, 600);
	assert_int_equal(cfg.store.events_max, 5);
	assert_int_equal(cfg.store.seats_max, 1000);
	assert_int_equal(cfg.store.records_max, 99);
	assert_int_equal(cfg.log_level, HF_LOG_DEBUG);
	assert_int_equal(cfg.pin, 0);
	assert_int_equal(parse(&cfg, err, 2, "--help"), HF_CONFIG_HELP);
}

static void test_bad_flags(void **state)
{
	(void)state;
	struct hf_engine_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, 2, "--bogus"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "unknown flag"));
	assert_int_equal(parse(&cfg, err, 2, "--shards"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(parse(&cfg, err, 2, "plain"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--shards", "0"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--shards", "257"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--shards", "-1"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--shards", "2x"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--listen", "localhost:7070"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--listen", "127.0.0.1"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--listen", "127.0.0.1:0"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--listen", "127.0.0.1:65536"), HF_CONFIG_BAD);
	/* The last shard's port would pass 65535. */
	assert_int_equal(parse(&cfg, err, 5, "--listen", "127.0.0.1:65535", "--shards", "2"),
			 HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--durability", "sometimes"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--log-level", "loud"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--max-conn-buffer", "10"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--max-connections", "0"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--hold-lifetime-max", "86401"), HF_CONFIG_BAD);
	/* --shed-after-ms: 0 (off) .. the maximum, nothing past it. */
	assert_int_equal(parse(&cfg, err, 3, "--shed-after-ms", "0"), HF_CONFIG_OK);
	assert_int_equal(cfg.shed_after_ms, 0);
	assert_int_equal(parse(&cfg, err, 2, "--shed-after-ms=60000"), HF_CONFIG_OK);
	assert_int_equal(cfg.shed_after_ms, HF_ENGINE_SHED_AFTER_MS_MAX);
	assert_int_equal(parse(&cfg, err, 3, "--shed-after-ms", "60001"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "--shed-after-ms"));
	assert_int_equal(parse(&cfg, err, 3, "--shed-after-ms", "soon"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--data-dir", ""), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 2, "--force"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 2, "--no-pin=1"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 2, "--prefault=yes"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 2, "--prefault"), HF_CONFIG_OK);
	assert_int_equal(cfg.prefault, 1);
	assert_int_equal(parse(&cfg, err, 5, "--restore-from", "/b", "--durability", "none"),
			 HF_CONFIG_BAD);
	/* Every refusal says something on one line. */
	assert_true(strlen(err) > 0 && strchr(err, '\n') == NULL);
}

/* WATCH's limits: defaults, both ends of each range, and what is refused. */
static void test_watch_limits(void **state)
{
	(void)state;
	struct hf_engine_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, 1), HF_CONFIG_OK);
	assert_int_equal(cfg.watchers_max, HF_ENGINE_WATCHERS_DEFAULT);
	assert_int_equal(cfg.watch_queue_size_max, HF_ENGINE_WATCH_QUEUE_DEFAULT);
	assert_int_equal(parse(&cfg, err, 4, "--watchers-max", "0", "--watch-queue-max=4096"),
			 HF_CONFIG_OK);
	assert_int_equal(cfg.watchers_max, 0);
	assert_int_equal(cfg.watch_queue_size_max, HF_ENGINE_WATCH_QUEUE_MIN);
	assert_int_equal(
	    parse(&cfg, err, 4, "--watchers-max=1048576", "--watch-queue-max", "67108864"),
	    HF_CONFIG_OK);
	assert_int_equal(cfg.watchers_max, HF_ENGINE_WATCHERS_MAX);
	assert_int_equal(cfg.watch_queue_size_max, HF_ENGINE_WATCH_QUEUE_MAX);
	assert_int_equal(parse(&cfg, err, 3, "--watchers-max", "1048577"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "--watchers-max"));
	assert_int_equal(parse(&cfg, err, 3, "--watch-queue-max", "4095"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "--watch-queue-max"));
	assert_int_equal(parse(&cfg, err, 3, "--watch-queue-max", "67108865"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--watchers-max", "-1"), HF_CONFIG_BAD);
}

/* The slot map must name an address clients can reach: the listen address by default, --advertise
 * when listening on every interface. */
static void test_advertise(void **state)
{
	(void)state;
	struct hf_engine_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, 3, "--listen", "10.1.2.3:9000"), HF_CONFIG_OK);
	assert_string_equal(cfg.advertise_host, "10.1.2.3");
	assert_int_equal(parse(&cfg, err, 5, "--listen", "0.0.0.0:9000", "--advertise", "10.0.0.5"),
			 HF_CONFIG_OK);
	assert_string_equal(cfg.host, "0.0.0.0");
	assert_string_equal(cfg.advertise_host, "10.0.0.5");
	assert_int_equal(parse(&cfg, err, 2, "--advertise=192.168.1.9"), HF_CONFIG_OK);
	assert_string_equal(cfg.host, "127.0.0.1");
	assert_string_equal(cfg.advertise_host, "192.168.1.9");

	/* The wildcard cannot be advertised, and listening on it needs an address to advertise. */
	assert_int_equal(parse(&cfg, err, 3, "--listen", "0.0.0.0:9000"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "--advertise"));
	assert_int_equal(parse(&cfg, err, 5, "--listen", "0.0.0.0:9000", "--advertise", "0.0.0.0"),
			 HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--advertise", "myhost"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--advertise", ""), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--advertise", "10.0.0.256"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 2, "--advertise"), HF_CONFIG_BAD);
}

/* Replication: --replica-of, --replication, --repl-timeout, their defaults and their limits. */
static void test_replication_flags(void **state)
{
	(void)state;
	struct hf_engine_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, 1), HF_CONFIG_OK);
	assert_int_equal(cfg.replica_of_port, 0);
	assert_int_equal(cfg.repl_mode, HF_REPL_MODE_SYNC);
	assert_int_equal(cfg.repl_timeout_ms, HF_REPL_TIMEOUT_MS_DEFAULT);
	assert_int_equal(parse(&cfg, err, 7, "--replica-of", "10.0.0.5:7070", "--replication",
			       "async", "--repl-timeout", "250"),
			 HF_CONFIG_OK);
	assert_string_equal(cfg.replica_of_host, "10.0.0.5");
	assert_int_equal(cfg.replica_of_port, 7070);
	assert_int_equal(cfg.repl_mode, HF_REPL_MODE_ASYNC);
	assert_int_equal(cfg.repl_timeout_ms, 250);
	assert_int_equal(parse(&cfg, err, 3, "--replica-of", "10.0.0.5"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--replica-of", "host:7070"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--replica-of", "10.0.0.5:0"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--replication", "maybe"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "sync or async"));
	assert_int_equal(parse(&cfg, err, 3, "--repl-timeout", "0"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--repl-timeout", "60001"), HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--repl-timeout", "60000"), HF_CONFIG_OK);
	/* The last shard's primary port would pass 65535. */
	assert_int_equal(parse(&cfg, err, 5, "--replica-of", "10.0.0.5:65535", "--shards", "2"),
			 HF_CONFIG_BAD);
	assert_int_equal(parse(&cfg, err, 3, "--replica-token-file", "/t"), HF_CONFIG_BAD);
	assert_non_null(strstr(err, "--replica-of"));
	assert_int_equal(
	    parse(&cfg, err, 5, "--replica-token-file", "/t", "--replica-of", "10.0.0.5:7070"),
	    HF_CONFIG_OK);
	assert_string_equal(cfg.replica_token_file, "/t");
	/* Replicas of a cluster are placed by etcd: not yet. */
	assert_int_equal(
	    parse(&cfg, err, 5, "--replica-of", "10.0.0.5:7070", "--etcd", "http://127.0.0.1:2379"),
	    HF_CONFIG_BAD);
	assert_non_null(strstr(err, "not yet"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	      cmocka_unit_test(test_every_flag),
	    cmocka_unit_test(test_bad_flags),	      cmocka_unit_test(test_watch_limits),
	    cmocka_unit_test(test_replication_flags), cmocka_unit_test(test_advertise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
