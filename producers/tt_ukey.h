/*
 * tt_ukey: the Kafka record key of a user, and the partition it maps to.
 *
 * THE KEY CONTRACT (every topic twotime writes that is keyed by user:
 * interactions, embeddings, changelog).  A user's key is the user id as a
 * signed 64-bit integer, 8 bytes, big-endian (two's complement; ids are
 * >= 0 so the first bit is 0).  That is exactly what Java's
 * org.apache.kafka.common.serialization.LongSerializer and Kafka Streams'
 * Serdes.Long() write, and in other languages:
 *   Python  struct.pack(">q", user_id)
 *   Go      binary.BigEndian.PutUint64(key, uint64(userID))
 *   kcat    reads it with -s key=q (big-endian int64)
 * Why not the decimal string: text has many spellings of one id ("42",
 * "042", "+42", "42 ") that hash to different partitions; the binary long
 * has one, costs 8 bytes and no formatting, and is what a Java or Kafka
 * Streams producer keyed by a long already sends.
 *
 * Partitioning: twotime producers use librdkafka's partitioner
 * "murmur2_random", which for a keyed record is the Java client's default:
 * partition = (murmur2(key) & 0x7fffffff) % partitions, with Kafka's
 * murmur2 (seed 0x9747b28c).  So a Java, Python (confluent-kafka with
 * partitioner=murmur2_random) or Go producer that writes the key above puts
 * a user on the same partition as twotime does, and the stream processor
 * sees all of a user's events in one partition, in order.
 * tt_ukey_partition() computes it for checks and tools.
 *
 * Thread-safe: pure functions.
 */
#ifndef TT_UKEY_H
#define TT_UKEY_H

#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

/* Bytes in a user key. */
#define TT_UKEY_LEN 8

/* Writes the key of `user_id` into out[0..TT_UKEY_LEN). */
void tt_ukey_encode(int64_t user_id, uint8_t *out);

/* Reads a user key: TT_ERR_PARSE unless len == TT_UKEY_LEN, TT_ERR_RANGE
 * for a negative id. */
tt_err_t tt_ukey_decode(const uint8_t *key, size_t len, int64_t *user_id);

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) of
 * data[0..len), as the unsigned bits of Java's int result. */
uint32_t tt_ukey_murmur2(const uint8_t *data, size_t len);

/* The partition of `partitions` (> 0) the Java client's default
 * partitioner and librdkafka's murmur2 partitioners choose for a key. */
int32_t tt_ukey_partition(const uint8_t *key, size_t len, int32_t partitions);

/* tt_ukey_partition() of the key of `user_id`. */
int32_t tt_ukey_user_partition(int64_t user_id, int32_t partitions);

#endif
