/*
 * tt_crc32c: CRC-32C (Castagnoli), the checksum of the user-state records.
 *
 * CRC-32C rather than zlib's CRC-32 because x86-64 computes it in hardware
 * (SSE4.2 `crc32`), which keeps checksumming a 2 KB record well below a
 * microsecond; other CPUs use a table.  Both paths give the same value (the
 * unit tests check it).  Parameters: reflected polynomial 0x82F63B78, initial
 * value and final XOR 0xFFFFFFFF; CRC-32C("123456789") = 0xE3069283.
 *
 * Thread-safe: no state.
 */
#ifndef TT_CRC32C_H
#define TT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of the `len` bytes at `data` (hardware when available). */
uint32_t tt_crc32c(const void *data, size_t len);

/* The same value computed by the portable table code, for tests. */
uint32_t tt_crc32c_sw(const void *data, size_t len);

#endif
