#ifndef SORA_LIB_UNITS_H
#define SORA_LIB_UNITS_H

/* Durations and sizes as written in configuration files. Pure functions:
   0 on success with the out-parameter set, -1 otherwise (nothing set). */

#include <stdint.h>

#include "str.h"

/* Go-style durations: one or more <number><unit> groups without blanks,
   e.g. "500ms", "5s", "15m", "1h", "7d", "1h30m", "2m30s", "1.5h". Units:
   ns, us (also µs, μs), ms, s, m, h, d (= 24h). A number may have a decimal
   fraction ("1.5h", ".5s"). A lone "0" needs no unit. No sign. The result
   is in milliseconds, rounded UP so that a non-zero duration never becomes
   0 ("1us" -> 1). Anything above UINT64_MAX nanoseconds (about 584 years)
   is an overflow error. */
int units_parse_duration(struct slice s, uint64_t *ms_r);

/* Sizes: a number (optional decimal fraction) and an optional unit, case-
   insensitive, blanks allowed between them: "100", "100b", "2k", "512kb",
   "25mb", "10MB", "1GiB", "1.5g", "2tb". Every multiple is binary:
   k/kb/kib = 1024, m/mb/mib = 1024^2, g/gb/gib = 1024^3, t/tb/tib = 1024^4.
   Fractions of a byte are dropped. Overflow of uint64_t is an error. */
int units_parse_size(struct slice s, uint64_t *bytes_r);

#endif
