/*
 * tt_crc32c: CRC-32C (Castagnoli), the checksum of the user-state records
 * (state/), the model records and their COMMIT digest (schemas/).
 *
 * CRC-32C rather than zlib's CRC-32 because x86-64 computes it in hardware
 * (SSE4.2 `crc32`), about 30 times faster than the table, which matters for
 * models of hundreds of MB that are checksummed when published and again when
 * loaded, and keeps a 2 KB state record well below a microsecond; other CPUs
 * use a table.  Both paths give the same value (the unit tests check it).
 * Parameters: reflected polynomial 0x82F63B78, initial value and final XOR
 * 0xFFFFFFFF; CRC-32C("123456789") = 0xE3069283.
 *
 * Thread-safe: no state.
 */
#ifndef TT_CRC32C_H
#define TT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of data[0..len), continuing from `crc`, a previous result (0 to
 * start): tt_crc32c(tt_crc32c(0, a, n), b, m) is the CRC of a then b.  Uses
 * the hardware instruction when the CPU has it. */
uint32_t tt_crc32c(uint32_t crc, const void *data, size_t len);

/* The same value computed by the portable table code, for tests. */
uint32_t tt_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
