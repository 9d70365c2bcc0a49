/* The 8-bit checksum firmware tables use (MP table, ACPI): the byte that
 * makes all bytes of the structure sum to zero. */
#ifndef EMBER_BOOT_CHECKSUM_H
#define EMBER_BOOT_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t table_checksum(const void *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + ((const uint8_t *)p)[i]);
    return (uint8_t)-sum;
}

#endif
