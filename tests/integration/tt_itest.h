/*
 * tt_itest: what every integration test (tests/integration/test_*.c, run
 * against a real broker) shares.  Linked into each of them by
 * tests/CMakeLists.txt.
 *
 * The broker comes from the environment: TT_TEST_BROKERS=host:port
 * (scripts/test starts one on 127.0.0.1:19192 and sets it; by hand:
 * `scripts/kafka start` and TT_TEST_BROKERS=127.0.0.1:19092).  Unset or
 * unreachable is a FAILED test with a message saying so, never a skip: an
 * integration suite that silently tests nothing is worse than none.
 *
 * Topic names are unique per call (prefix, pid, monotonic time), so that
 * runs and tests never see each other's records on a reused broker.
 *
 * The helpers fail the current cmocka test on error, so call them from the
 * test's own thread only (cmocka's failure jumps out of the test).
 */
#ifndef TT_ITEST_H
#define TT_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_event.h"
#include "conf/tt_conf.h"
#include "model/tt_model.h"

/* Longest name tt_itest_topic_name() writes, NUL included. */
#define TT_ITEST_NAME_MAX 128

/* The broker list of TT_TEST_BROKERS, after checking that the broker
 * answers; fails the test otherwise. */
const char *tt_itest_brokers(void);

/* Defaults (tt_conf_init) with kafka.brokers from tt_itest_brokers() and
 * test-friendly group timing (fast heartbeats, so rebalances take
 * hundreds of ms instead of seconds).  Release with tt_conf_release(). */
void tt_itest_conf(struct tt_conf *conf);

/* Writes "<prefix>-<pid>-<ns>" into buf (TT_ITEST_NAME_MAX bytes). */
void tt_itest_name(char *buf, size_t size, const char *prefix);

/* Creates `topic` with `partitions` partitions (replication 1) and waits
 * for its leaders; fails the test on error. */
void tt_itest_create_topic(const struct tt_conf_kafka *kc, const char *topic,
                           int partitions);

/* Deletes `topic`, best effort (a test that failed leaves its topic). */
void tt_itest_delete_topic(const struct tt_conf_kafka *kc, const char *topic);

/* Produces evs[0..n) in order with tt_eventprod, flushes and asserts that
 * every one was delivered.  Returns the seconds it took. */
double tt_itest_produce(const struct tt_conf_kafka *kc, const char *topic,
                        const struct tt_event *evs, size_t n);

/*
 * Consumes `topic` in consumer group `group` from the beginning with one
 * tt_kcons, calling fn(arg, msg) for each message, until `want` messages
 * were seen or none arrived for idle_ms.  Stores offsets after each batch.
 * Returns the number of messages seen.
 */
size_t tt_itest_consume(const struct tt_conf_kafka *kc, const char *topic,
                        const char *group, size_t want, int idle_ms,
                        void (*fn)(void *arg, const rd_kafka_message_t *msg),
                        void *arg);

/* Sum over the partitions of `topic` of the high watermarks: the records
 * the topic holds when it started empty. */
int64_t tt_itest_topic_records(const struct tt_conf_kafka *kc,
                               const char *topic);

/* Publishes model m as `version` on the model topic `topic` (created
 * compacted with `partitions` partitions unless it exists) the way
 * `twotime retrain` does: tt_modelpub, one transaction.  Fails the test on
 * error. */
void tt_itest_model_publish(const struct tt_conf_kafka *kc, const char *topic,
                            const tt_model_t *m, uint64_t version,
                            int partitions);

/* How tt_itest_model_publish_raw damages a version. */
struct tt_itest_model_fault {
    bool drop_commit; /* everything but the COMMIT: a partial version */
    int32_t drop_seq; /* leave record seq out, COMMIT kept (-1: none) */
    int32_t flip_seq; /* flip one payload byte of record seq: its CRC-32C
                       * no longer matches (-1: none) */
};

/* Writes model m as `version` record by record with a plain idempotent
 * producer (no transaction), damaged as `f` says. */
void tt_itest_model_publish_raw(const struct tt_conf_kafka *kc,
                                const char *topic, const tt_model_t *m,
                                uint64_t version, int partitions,
                                struct tt_itest_model_fault f);

/* An instance id "<base>-<pid>" for `twotime stream --instance`: stable
 * across the restarts of one test, distinct between test processes (the
 * transactional id derives from it, and a shared broker would let two
 * tests with the same id fence each other). */
void tt_itest_instance(char *buf, size_t size, const char *base);

/* The seed of a randomised test: TT_TEST_SEED when set (a decimal
 * number), else `dflt`.  Print it, so that a failure can be replayed. */
uint64_t tt_itest_seed(uint64_t dflt);

/* ---- child processes: the twotime program (TT_BINARY) ---- */

#include <stdbool.h>
#include <sys/types.h>

/* Runs TT_BINARY with args[0..] (NULL-terminated) and then "--set S" for
 * each of sets[0..n_sets), stdout and stderr appended to log_path; returns
 * the child's pid.  Fails the test when TT_BINARY is not set. */
pid_t tt_itest_spawn(const char *const *args, const char *const *sets,
                     int n_sets, const char *log_path);

/* tt_itest_spawn() with the child in directory `cwd` (NULL: this one's),
 * so that relative paths in args name files there; exit status 126 when it
 * cannot change to it. */
pid_t tt_itest_spawn_in(const char *cwd, const char *const *args,
                        const char *const *sets, int n_sets,
                        const char *log_path);

/* Waits for a child at most timeout_s; then kills it (SIGKILL) and fails
 * the test.  Returns the exit status, or minus the signal that ended it. */
int tt_itest_wait(pid_t pid, double timeout_s);

/* Copies the file at `path` to stderr under a "---- path" line (a child's
 * log, when a test fails); nothing when it cannot be read. */
void tt_itest_dump_file(const char *path);

/* Whether a line of the file at `path` contains `what` (false when the
 * file cannot be read). */
bool tt_itest_file_has(const char *path, const char *what);

/* How many lines of the file at `path` contain `what` (0 when the file
 * cannot be read; a line longer than 4 KiB counts as several). */
int tt_itest_file_count(const char *path, const char *what);

/* Waits until `times` lines of the file at `path` contain `what`; after
 * timeout_s prints its last 40 lines and fails the test. */
void tt_itest_wait_lines(const char *path, const char *what, int times,
                         double timeout_s);

#endif
