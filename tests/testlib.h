/* Minimal test harness: CHECK() records a failure and goes on; the test
 * program's exit status is the number of failures (capped). */
#ifndef TTVM_TESTLIB_H
#define TTVM_TESTLIB_H
#include <stdio.h>
#include <string.h>
#include <inttypes.h>

static int test_failures;

#define CHECK(cond)                                                          \
	do {                                                                     \
		if (!(cond)) {                                                       \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
			test_failures++;                                                 \
		}                                                                    \
	} while (0)

#define CHECK_EQ(a, b)                                                       \
	do {                                                                     \
		unsigned long long va_ = (unsigned long long)(a);                    \
		unsigned long long vb_ = (unsigned long long)(b);                    \
		if (va_ != vb_) {                                                    \
			fprintf(stderr, "FAIL %s:%d: %s == %s (0x%llx != 0x%llx)\n",     \
				__FILE__, __LINE__, #a, #b, va_, vb_);                       \
			test_failures++;                                                 \
		}                                                                    \
	} while (0)

#define RUN_TEST(fn)                                                         \
	do {                                                                     \
		int before_ = test_failures;                                         \
		fn();                                                                \
		printf("%s %s\n", test_failures == before_ ? "ok  " : "FAIL", #fn);  \
	} while (0)

#define TEST_EXIT() (test_failures > 100 ? 100 : test_failures)

#endif
