#include "producers/tt_ukey.h"

#include <assert.h>

void tt_ukey_encode(int64_t user_id, uint8_t *out)
{
    uint64_t v = (uint64_t)user_id;

    for (int i = TT_UKEY_LEN - 1; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xffu);
        v >>= 8;
    }
}

tt_err_t tt_ukey_decode(const uint8_t *key, size_t len, int64_t *user_id)
{
    uint64_t v = 0;

    if (!key || len != TT_UKEY_LEN)
        return TT_ERR_PARSE;
    for (int i = 0; i < TT_UKEY_LEN; i++)
        v = (v << 8) | key[i];
    if (v > (uint64_t)INT64_MAX)
        return TT_ERR_RANGE;
    *user_id = (int64_t)v;
    return TT_ERR_OK;
}

/* A transcription of Kafka's Utils.murmur2 in unsigned arithmetic (Java's
 * int overflow wraps the same way; >>> is the unsigned shift). */
uint32_t tt_ukey_murmur2(const uint8_t *data, size_t len)
{
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4, tail = len & ~(size_t)3;

    for (size_t i = 0; i < n4; i++) {
        const uint8_t *p = data + 4 * i;
        uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)data[tail + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[tail + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[tail];
        h *= m;
        break;
    default:
        break;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t tt_ukey_partition(const uint8_t *key, size_t len, int32_t partitions)
{
    assert(partitions > 0);
    return (int32_t)((tt_ukey_murmur2(key, len) & 0x7fffffffu) %
                     (uint32_t)partitions);
}

int32_t tt_ukey_user_partition(int64_t user_id, int32_t partitions)
{
    uint8_t key[TT_UKEY_LEN];

    tt_ukey_encode(user_id, key);
    return tt_ukey_partition(key, sizeof(key), partitions);
}
