/* A minimal unit-test harness: TEST(name) defines a case, CHECK() records a
 * failed expectation without stopping the case, RUN_TESTS() runs them all and
 * prints "<file>: N passed, N failed". Exit status is non-zero on any failure. */
#ifndef EMBER_TEST_CHECK_H
#define EMBER_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_case_failed;
static int check_passed, check_failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                 \
            check_case_failed = 1;                                                                                     \
        }                                                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                                                 \
    do {                                                                                                               \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);                               \
        if (va_ != vb_) {                                                                                              \
            fprintf(stderr, "  %s:%d: CHECK_EQ failed: %s == %s (0x%llx != 0x%llx)\n", __FILE__, __LINE__, #a, #b,    \
                    va_, vb_);                                                                                         \
            check_case_failed = 1;                                                                                     \
        }                                                                                                              \
    } while (0)

typedef void (*check_fn)(void);
struct check_case {
    const char *name;
    check_fn fn;
};

#define TEST(name) static void name(void)

static inline int check_run(const char *file, const struct check_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        check_case_failed = 0;
        cases[i].fn();
        if (check_case_failed) {
            check_failed++;
            fprintf(stderr, "FAIL %s\n", cases[i].name);
        } else {
            check_passed++;
        }
    }
    const char *base = strrchr(file, '/');
    printf("%s: %d passed, %d failed\n", base ? base + 1 : file, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#define CASE(fn) {#fn, fn}
#define RUN_TESTS(...)                                                                                                 \
    int main(void)                                                                                                     \
    {                                                                                                                  \
        static const struct check_case cases_[] = {__VA_ARGS__};                                                       \
        return check_run(__FILE__, cases_, sizeof(cases_) / sizeof(cases_[0]));                                        \
    }

#endif
