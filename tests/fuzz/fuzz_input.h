/* The harnesses' view of a libFuzzer input: a cursor that hands out
 * little-endian integers and runs dry as zeros, so every input, however
 * short, is a valid sequence of operations. */
#ifndef EMBER_FUZZ_INPUT_H
#define EMBER_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input {
    const uint8_t *p;
    size_t left;
};

/* The next `bytes` bytes (at most 8) as a little-endian number. */
static inline uint64_t take(struct input *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes && in->left; i++, in->p++, in->left--)
        v |= (uint64_t)in->p[0] << (8 * i);
    return v;
}

#endif
